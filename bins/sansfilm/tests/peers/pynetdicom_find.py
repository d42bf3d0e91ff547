"""Modality Worklist C-FIND with pynetdicom, as a real outside peer.

Usage: pynetdicom_find.py HOST PORT CALLED_AET CALLING_AET MODE [ARGS...]
Modes:
  query FILE            send the identifier stored in FILE
  name PATTERN CHARSET  query Patient's Name PATTERN, in CHARSET ("" = default)
  bad KIND              a malformed identifier: two-items, top-level-station,
                        bad-range, wrong-vr
  cancel                universal query, C-CANCEL after the first answer
Prints "MATCH|<PatientName as pydicom decodes it>|<SpecificCharacterSet>" per
answer, then "STATUS|<hex>|<Error Comment>" and "COUNT|<n>".
"""
import sys

from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian
from pynetdicom import AE
from pynetdicom.sop_class import ModalityWorklistInformationFind

host, port, called, calling, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
args = sys.argv[6:]


def sps_item(**values):
    item = Dataset()
    item.Modality = ""
    item.ScheduledStationAETitle = ""
    item.ScheduledProcedureStepStartDate = ""
    for key, value in values.items():
        setattr(item, key, value)
    return item


if mode == "query":
    identifier = dcmread(args[0], force=True)
    identifier.file_meta = None
elif mode == "name":
    identifier = Dataset()
    if args[1]:
        identifier.SpecificCharacterSet = args[1]
    identifier.PatientName = args[0]
    identifier.PatientID = ""
    identifier.StudyInstanceUID = ""
    identifier.ScheduledProcedureStepSequence = [sps_item()]
elif mode == "bad":
    identifier = Dataset()
    identifier.PatientName = ""
    kind = args[0]
    if kind == "two-items":
        identifier.ScheduledProcedureStepSequence = [sps_item(), sps_item()]
    elif kind == "top-level-station":
        identifier.ScheduledStationAETitle = "CT01"
    elif kind == "bad-range":
        identifier.ScheduledProcedureStepSequence = [sps_item(ScheduledProcedureStepStartDate="20261231-20260101")]
    elif kind == "wrong-vr":
        identifier.add_new(0x00100030, "PN", "NOT^A^DATE")  # PatientBirthDate is DA
    else:
        sys.exit(f"unknown bad kind {kind}")
elif mode == "cancel":
    identifier = Dataset()
    identifier.PatientName = ""
    identifier.ScheduledProcedureStepSequence = [sps_item()]
else:
    sys.exit(f"unknown mode {mode}")

ae = AE(ae_title=calling)
ae.add_requested_context(ModalityWorklistInformationFind, [ExplicitVRLittleEndian, ImplicitVRLittleEndian])
assoc = ae.associate(host, port, ae_title=called)
if not assoc.is_established:
    sys.exit("association failed")
count = 0
final = None
responses = assoc.send_c_find(identifier, ModalityWorklistInformationFind, msg_id=7)
for status, answer in responses:
    if status is None:
        print("STATUS|none|no response", flush=True)
        break
    code = status.Status
    if code in (0xFF00, 0xFF01):
        count += 1
        charset = answer.get("SpecificCharacterSet", "")
        print(f"MATCH|{answer.get('PatientName', '')}|{charset}", flush=True)
        if mode == "cancel" and count == 1:
            context = assoc.accepted_contexts[0].context_id
            assoc.send_c_cancel(7, context)
    else:
        final = (code, status.get("ErrorComment", ""))
if final:
    print(f"STATUS|{final[0]:04X}|{final[1]}", flush=True)
print(f"COUNT|{count}", flush=True)
assoc.release()
