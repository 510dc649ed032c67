#!/usr/bin/env bash
# Regenerates Tests/DICOMTests/Fixtures: small synthetic DICOM studies (pydicom, see
# make-dicom-fixtures.py) and Debian dcm2niix's NIfTI of each, the independent reference the
# Swift tests compare with. Needs python3 with pydicom and pylibjpeg-openjpeg, Debian's dcm2niix and dcmtk.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out="$here/../Tests/DICOMTests/Fixtures"
rm -rf "$out/studies" "$out/dcm2niix"
mkdir -p "$out/studies" "$out/dcm2niix"
python3 "$here/make-dicom-fixtures.py" "$out/studies" --size 40x32 \
    --only axial,oblique,flipped,multiseries,implicit,bigendian,deflated,rle,jpeg2000,jpeg_lossless,jpeg_lossless_sv6,unsigned_slope,padded,quirk12,tilted,uneven >/dev/null
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
for study in "$out"/studies/*; do
    name=$(basename "$study")
    mkdir -p "$tmp/$name"
    dcm2niix -z y -b n -f %s_%p -o "$tmp/$name" "$study" >/dev/null || true # exits 2 on deflated files
    case $name in
        multiseries) pick=3_Head_2.5.nii.gz ;;
        tilted) pick=2_Head_2.5_Tilt_1.nii.gz ;;
        deflated) continue ;; # dcm2niix cannot read it; same pixels and geometry as "implicit"
        uneven) continue ;; # dcm2niix keeps uneven slices; the system test checks ours against pydicom
        *) pick=2_Head_2.5.nii.gz ;;
    esac
    cp "$tmp/$name/$pick" "$out/dcm2niix/$name.nii.gz"
done
echo "fixtures in $out: $(du -sh "$out" | cut -f1)"
