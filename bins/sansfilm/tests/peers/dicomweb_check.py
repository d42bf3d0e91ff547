"""DICOMweb against sansfilm with dicomweb-client, as an outside client would.

Usage: dicomweb_check.py URL USER PASSWORD STOW_FILE ORIGINAL...

The ORIGINAL files were stored in the archive (some of them compressed there
since); STOW_FILE is stored here with STOW-RS. Checks, each printed as
"ok: ...", exiting 1 at the first failure:
  - QIDO-RS at every level, wildcards, date ranges, UID lists, limit/offset;
  - WADO-RS of each study, series and instance: every instance decodes
    (pydicom) to exactly the pixels of its original;
  - instances as stored (transfer-syntax=*) keep the stored syntax;
  - series metadata: one entry per instance, pixel data by BulkDataURI;
  - frames native (byte for byte the original's frame) and as stored;
  - rendered JPEG and PNG;
  - STOW-RS, then the stored instance found and retrieved intact.
"""

import hashlib
import sys

import pydicom
from dicomweb_client.api import DICOMwebClient
from dicomweb_client.session_utils import create_session_from_auth
from requests.auth import HTTPBasicAuth


def fail(msg):
    print(f"FAIL: {msg}")
    sys.exit(1)


def check(cond, msg):
    if not cond:
        fail(msg)
    print(f"ok: {msg}")


def pixel_md5(ds):
    arr = ds.pixel_array
    return hashlib.md5(arr.astype(arr.dtype.newbyteorder("<")).tobytes()).hexdigest()


def value(d, tag):
    v = d.get(tag, {}).get("Value")
    return v[0] if v else None


def main():
    url, user, password, stow_path = sys.argv[1:5]
    paths = sys.argv[5:]
    session = create_session_from_auth(HTTPBasicAuth(user, password))
    client = DICOMwebClient(url=f"{url}/dicom-web", session=session)
    originals = {}
    for p in paths:
        ds = pydicom.dcmread(p)
        originals[ds.SOPInstanceUID] = ds
    studies = {ds.StudyInstanceUID for ds in originals.values()}

    found = client.search_for_studies()
    got = {value(s, "0020000D") for s in found}
    check(studies <= got, f"search_for_studies finds the {len(studies)} studies sent ({len(got)} in all)")
    first = next(iter(originals.values()))
    s0 = [s for s in found if value(s, "0020000D") == first.StudyInstanceUID][0]
    check(value(s0, "00201208") is not None and value(s0, "00080061") is not None,
          "study answers carry NumberOfStudyRelatedInstances and ModalitiesInStudy")
    check(value(s0, "00081190", ) and value(s0, "00081190").endswith(first.StudyInstanceUID),
          "study answers carry their RetrieveURL")
    name = str(first.PatientName)
    by_name = client.search_for_studies(search_filters={"PatientName": name[:3].lower() + "*"})
    check(first.StudyInstanceUID in {value(s, "0020000D") for s in by_name},
          "a wildcard on the name in lower case matches")
    by_date = client.search_for_studies(search_filters={"StudyDate": f"{first.StudyDate}-{first.StudyDate}"})
    check(first.StudyInstanceUID in {value(s, "0020000D") for s in by_date}, "a date range matches")
    uid_list = ",".join(sorted(studies))
    by_uids = client.search_for_studies(search_filters={"StudyInstanceUID": uid_list})
    check({value(s, "0020000D") for s in by_uids} == studies, "a list of Study Instance UIDs matches each")
    check(len(client.search_for_studies(limit=1)) == 1, "limit=1 gives one study")
    page2 = client.search_for_studies(limit=1, offset=1)
    check(len(page2) == 1 and value(page2[0], "0020000D") != value(client.search_for_studies(limit=1)[0], "0020000D"),
          "offset=1 gives the next one")
    check(client.search_for_studies(search_filters={"PatientID": "NO-SUCH-PATIENT"}) == [],
          "no match is an empty list")

    for study in sorted(studies):
        sops = {u for u, ds in originals.items() if ds.StudyInstanceUID == study}
        series = client.search_for_series(study_instance_uid=study)
        n = 0
        for se in series:
            se_uid = value(se, "0020000E")
            insts = client.search_for_instances(study_instance_uid=study, series_instance_uid=se_uid)
            n += len(insts)
            meta = client.retrieve_series_metadata(study_instance_uid=study, series_instance_uid=se_uid)
            check(len(meta) == len(insts), f"series metadata of {se_uid}: {len(meta)} instances")
            for m in meta:
                if "7FE00010" in m:
                    check("BulkDataURI" in m["7FE00010"] and "InlineBinary" not in m["7FE00010"],
                          "pixel data by BulkDataURI in the metadata")
            for inst in client.retrieve_series(study_instance_uid=study, series_instance_uid=se_uid):
                orig = originals.get(inst.SOPInstanceUID)
                if orig is not None and "PixelData" in orig:
                    check(pixel_md5(inst) == pixel_md5(orig),
                          f"series retrieve: {inst.SOPInstanceUID} decodes to the original pixels")
        check(n == len(sops), f"study {study}: {n} instances found, {len(sops)} sent")
        for inst in client.retrieve_study(study_instance_uid=study):
            orig = originals[inst.SOPInstanceUID]
            if "PixelData" in orig:
                check(pixel_md5(inst) == pixel_md5(orig),
                      f"study retrieve ({inst.file_meta.TransferSyntaxUID}): {inst.SOPInstanceUID} has the original pixels")

    for sop, orig in originals.items():
        if "PixelData" not in orig:
            continue
        loc = dict(study_instance_uid=orig.StudyInstanceUID, series_instance_uid=orig.SeriesInstanceUID,
                   sop_instance_uid=sop)
        as_stored = client.retrieve_instance(**loc, media_types=(("application/dicom", "*"),))
        check(pixel_md5(as_stored) == pixel_md5(orig),
              f"{sop} as stored ({as_stored.file_meta.TransferSyntaxUID}) decodes to the original pixels")
        native = client.retrieve_instance(**loc, media_types=(("application/dicom", "1.2.840.10008.1.2.1"),))
        check(native.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.1" and pixel_md5(native) == pixel_md5(orig),
              f"{sop} decoded to Explicit VR Little Endian")
        frames = int(getattr(orig, "NumberOfFrames", 1) or 1)
        numbers = [1] if frames == 1 else [1, frames]
        got = client.retrieve_instance_frames(**loc, frame_numbers=numbers,
                                              media_types=(("application/octet-stream", "1.2.840.10008.1.2.1"),))
        arr = native.pixel_array
        if frames == 1:
            want = [native.PixelData]
        else:
            size = len(native.PixelData) // frames
            want = [native.PixelData[:size], native.PixelData[(frames - 1) * size:frames * size]]
        check([bytes(g) for g in got] == [bytes(w) for w in want], f"{sop} native frames {numbers} byte for byte")
        raw = client.retrieve_instance_frames(**loc, frame_numbers=[1],
                                              media_types=(("application/octet-stream", "*"),))
        check(len(raw) == 1 and len(raw[0]) > 0, f"{sop} frame 1 as stored ({len(raw[0])} bytes)")
        jpeg = client.retrieve_instance_rendered(**loc, media_types=("image/jpeg",))
        check(jpeg[:3] == b"\xff\xd8\xff", f"{sop} rendered as JPEG")
        png = client.retrieve_instance_rendered(**loc, media_types=("image/png",))
        check(png[:8] == b"\x89PNG\r\n\x1a\n", f"{sop} rendered as PNG")
        del arr

    new = pydicom.dcmread(stow_path)
    answer = client.store_instances(datasets=[new])
    refs = answer.get("ReferencedSOPSequence", [])
    check(len(refs) == 1 and refs[0].ReferencedSOPInstanceUID == new.SOPInstanceUID,
          "STOW-RS answers the stored instance in ReferencedSOPSequence")
    back = client.retrieve_instance(study_instance_uid=new.StudyInstanceUID,
                                    series_instance_uid=new.SeriesInstanceUID,
                                    sop_instance_uid=new.SOPInstanceUID)
    check(pixel_md5(back) == pixel_md5(new), "the STOW-RS instance comes back with its pixels")
    print("ALL OK")


if __name__ == "__main__":
    main()
