import sys, os, pydicom
from pydicom.uid import generate_uid
# Usage: qr_synth.py TEMPLATE OUT_DIR N PER_STUDY [START]: instances START..START+N.
src, out, n, per_study = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
start = int(sys.argv[5]) if len(sys.argv) > 5 else 0
os.makedirs(out, exist_ok=True)
ds = pydicom.dcmread(src)
root = "1.2.826.0.1.3680043.10.543.9."
for i in range(start, start + n):
    study = i // per_study
    ds.PatientID = f"PAT{study // 2:06d}"
    ds.PatientName = f"NOM{(study // 2) % 5000}^Prenom"
    ds.StudyInstanceUID = f"{root}1.{study}"
    ds.SeriesInstanceUID = f"{root}2.{study}"
    ds.SOPInstanceUID = f"{root}3.{i}"
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    day = study % 365
    ds.StudyDate = f"2020{1 + day // 31 % 12:02d}{1 + day % 28:02d}"
    ds.AccessionNumber = f"ACC{study:07d}"
    ds.InstanceNumber = i % per_study + 1
    ds.save_as(f"{out}/{i:06d}.dcm", enforce_file_format=True)
