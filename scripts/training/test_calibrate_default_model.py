#!/usr/bin/env python3
"""Checks of calibrate-default-model.py's rule choice (no model, no cohort: hand-made measurements).

    python3 scripts/training/test_calibrate_default_model.py
"""
import importlib.util
import math
import os
import unittest

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location("calibrate", os.path.join(HERE, "calibrate-default-model.py"))
calibrate = importlib.util.module_from_spec(spec)
spec.loader.exec_module(calibrate)


def measurements():
    """Two exams: case 0 with blood (slices 0-1), case 1 normal (slices 2-3), 0.5 ml per 1000 voxels."""
    # slices: truth_pos, truth_pixels, p_any, case_index, ml_per_voxel, case_is_normal
    slices = np.array([
        (1, 400, 0.9, 0, 0.0005, 0),
        (0, 0, 0.2, 0, 0.0005, 0),
        (0, 0, 0.6, 1, 0.0005, 1),
        (0, 0, 0.1, 1, 0.0005, 1),
    ], dtype=np.float64)
    # comps: slice_index, subtype, pixels, score, overlap, voxels of the 3D component
    comps = np.array([
        (0, 3, 380, 0.9, 350, 900),   # the true lesion
        (1, 3, 60, 0.5, 0, 60),       # a speck on the blood exam's blood-free slice
        (2, 1, 1000, 0.8, 0, 1500),   # a big, confident mimic on the normal exam: 0.5 ml
        (3, 4, 200, 0.45, 0, 200),    # a small, doubtful mimic on the normal exam: 0.1 ml
    ], dtype=np.float64)
    return slices, comps


class NormalExamVolume(unittest.TestCase):
    def test_counts_only_kept_components_of_normal_exams(self):
        slices, comps = measurements()
        everything = calibrate.kept(slices, comps, [0] * 5, 0, 0)
        self.assertEqual(len(calibrate.normal_exam_ml(slices, comps, everything)), 1)
        self.assertAlmostEqual(calibrate.normal_exam_ml(slices, comps, everything)[0], 0.6)
        # score >= 0.5 drops the doubtful mimic; 400 pixels drops all but the big mimic and the lesion.
        self.assertAlmostEqual(calibrate.normal_exam_ml(slices, comps, calibrate.kept(slices, comps, [0] * 5, 0.5, 0))[0], 0.5)
        self.assertAlmostEqual(calibrate.normal_exam_ml(slices, comps, calibrate.kept(slices, comps, [0] * 5, 0.85, 0))[0], 0.0)
        # p_any >= 0.7 empties the normal exam's slices.
        self.assertEqual(calibrate.normal_exam_ml(slices, comps, calibrate.kept(slices, comps, [0] * 5, 0, 0.7)), [0.0])


class RuleChoice(unittest.TestCase):
    # (f1, dice, worst normal-exam ml, rule name)
    results = [(0.95, 0.80, 0.60, "loose"), (0.95, 0.80, 0.10, "same score, quiet"),
               (0.90, 0.78, 0.15, "stricter"), (0.80, 0.60, 0.00, "strictest")]

    def test_budget_excludes_the_loud_best_rule(self):
        self.assertEqual(calibrate.choose(self.results, 0.2)[3], "same score, quiet")
        self.assertEqual(calibrate.choose(self.results, 0.05)[3], "strictest")

    def test_without_a_budget_it_is_the_old_criterion(self):
        # The first rule in grid order with the best slice F1 + min(Dice, 0.85), as before the budget.
        self.assertEqual(calibrate.choose(self.results, None)[3], "loose")
        self.assertEqual(calibrate.choose(self.results, math.inf)[3], "loose")

    def test_no_eligible_rule_gives_the_quietest(self):
        self.assertEqual(calibrate.choose(self.results[:3], 0.01)[3], "same score, quiet")

    def test_on_measurements(self):
        slices, comps = measurements()
        grid = []
        for m, sc in [(0, 0), (0, 0.5), (500, 0), (0, 0.85)]:
            f = calibrate.score(slices, comps, [m] * 5, sc, 0)
            worst = calibrate.normal_exam_ml(slices, comps, calibrate.kept(slices, comps, [m] * 5, sc, 0))[0]
            grid.append((f[0], f[1], worst, f, m, sc))
        # Loose rules keep the 0.5 ml mimic; within 0.2 ml only score 0.85 (lesion only, F1 1) is left.
        chosen = calibrate.choose(grid, 0.2)
        self.assertEqual((chosen[4], chosen[5]), (0, 0.85))
        self.assertEqual(chosen[3][2:], (1, 0, 0))


if __name__ == "__main__":
    unittest.main()
