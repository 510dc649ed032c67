import Testing
@testable import HemoEval

/// Our binary-classification metrics against scikit-learn on the committed scenarios.
@Suite struct ClassificationAgreementTests {
    @Test("precision, recall, F1, accuracy, specificity equal scikit-learn's (zero_division=warn → 0)",
          arguments: ReferenceFixtures.classification.scenarios)
    func countsMatchScikitLearn(_ scenario: ReferenceFixtures.Classification) throws {
        let confusion = try BinaryConfusion(truth: scenario.truth.map { $0 == 1 },
                                            predicted: scenario.predicted.map { $0 == 1 })
        let e = scenario.expected
        #expect(abs(confusion.precision - e.precision) <= 1e-6)
        #expect(abs(confusion.recall - e.recall) <= 1e-6)
        #expect(abs(confusion.f1 - e.f1) <= 1e-6)
        #expect(abs(confusion.accuracy - e.accuracy) <= 1e-6)
        #expect(abs(confusion.specificity - e.specificity) <= 1e-6)
    }

    @Test("ROC AUC equals roc_auc_score, nil where scikit-learn refuses (one class)",
          arguments: ReferenceFixtures.classification.scenarios)
    func rocAUCMatchesScikitLearn(_ scenario: ReferenceFixtures.Classification) throws {
        let auc = try ROCAUC.score(truth: scenario.truth.map { $0 == 1 }, scores: scenario.scores)
        switch (auc, scenario.expected.roc_auc) {
        case let (ours?, theirs?): #expect(abs(ours - theirs) <= 1e-4)
        case (nil, nil): break
        default: Issue.record("AUC defined for one side only: ours \(String(describing: auc)), sklearn \(String(describing: scenario.expected.roc_auc))")
        }
    }

    @Test func fixturesCoverTheEdgeCases() {
        let scenarios = ReferenceFixtures.classification.scenarios
        #expect(scenarios.count >= 20)
        #expect(scenarios.contains { $0.expected.roc_auc == nil })
        #expect(scenarios.contains { !$0.predicted.contains(1) && $0.truth.contains(1) })   // precision 0/0
        #expect(scenarios.contains { Set($0.scores).count < $0.scores.count / 2 })            // heavy ties
    }
}

/// Hand-checked behaviour of the classification metrics.
@Suite struct ClassificationBehaviourTests {
    @Test func zeroDivisionGivesZeroLikeScikitLearn() throws {
        let allNegative = try BinaryConfusion(truth: [false, false], predicted: [false, false])
        #expect(allNegative.precision == 0)
        #expect(allNegative.recall == 0)
        #expect(allNegative.f1 == 0)
        #expect(allNegative.specificity == 1)
        #expect(allNegative.accuracy == 1)
        #expect(BinaryConfusion().accuracy.isNaN)
    }

    @Test func countsAreAssignedToTheRightCells() throws {
        let c = try BinaryConfusion(truth: [true, true, false, false, true], predicted: [true, false, true, false, true])
        #expect(c == BinaryConfusion(truePositives: 2, falsePositives: 1, falseNegatives: 1, trueNegatives: 1))
        #expect(abs(c.f1 - 4.0 / 6.0) < 1e-15)
    }

    @Test func mismatchedLengthsAreRejected() {
        #expect(throws: EvalError.self) { try BinaryConfusion(truth: [true], predicted: []) }
        #expect(throws: EvalError.self) { try ROCAUC.score(truth: [true, false], scores: [0.3]) }
        #expect(throws: EvalError.self) { try ROCAUC.score(truth: [true, false], scores: [0.3, .nan]) }
    }

    @Test func tiesCountHalf() throws {
        // One positive and one negative tied: the curve goes diagonally, area 1/2.
        #expect(try ROCAUC.score(truth: [true, false], scores: [0.7, 0.7]) == 0.5)
        // Positive above one negative, tied with another: (1 + 0.5) / 2.
        #expect(try ROCAUC.score(truth: [true, false, false], scores: [0.7, 0.7, 0.1]) == 0.75)
        #expect(try ROCAUC.score(truth: [true, true], scores: [0.1, 0.2]) == nil)
    }
}
