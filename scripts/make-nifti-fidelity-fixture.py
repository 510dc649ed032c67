#!/usr/bin/env python3
"""Writes Tests/NIfTITests/Fixtures/singleton_4d_extensions.nii.gz with nibabel: a 6×5×4×1 float32
series (trailing singleton axis), pixdim[4] = 2.5, units micron and msec, qform code 2 (aligned)
and sform code 4 (MNI) with different matrices, and two header extensions (comment, AFNI).
NIfTIFidelityTests reads it and checks that `hemo convert` keeps all of that."""
import os

import nibabel as nib
import numpy as np

out = os.path.join(os.path.dirname(__file__), "..", "Tests", "NIfTITests", "Fixtures", "singleton_4d_extensions.nii.gz")
data = (np.arange(6 * 5 * 4, dtype=np.float32).reshape(6, 5, 4, 1) * 0.25 - 3).astype(np.float32)
sform = np.array([[-0.9, 0.1, 0.0, 30.0], [0.1, 0.9, 0.0, -20.0], [0.0, 0.0, 3.0, 5.0], [0, 0, 0, 1]])
qform = np.array([[-1.0, 0.0, 0.0, 31.0], [0.0, 1.0, 0.0, -21.0], [0.0, 0.0, 3.0, 6.0], [0, 0, 0, 1]])
img = nib.Nifti1Image(data, sform)
img.set_sform(sform, code=4)
img.set_qform(qform, code=2)
h = img.header
h.set_xyzt_units("micron", "msec")
h.set_zooms(h.get_zooms()[:3] + (2.5,))
h.extensions.append(nib.nifti1.Nifti1Extension(6, b"kept by hemo convert"))
h.extensions.append(nib.nifti1.Nifti1Extension(4, b"<AFNI_attributes/>"))
nib.save(img, out)
back = nib.load(out)
print(out, back.shape, back.header.get_zooms(), back.header.get_xyzt_units(), [(e.get_code(), len(e.get_content())) for e in back.header.extensions])
