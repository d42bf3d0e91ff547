"""DICOMweb timings of one server, as a viewer would load a series.

Usage: web_load.py NAME BASE_URL USER PASSWORD STUDY SERIES

Prints, for the series of STUDY/SERIES:
  - QIDO study search latency (median of 21, by Patient ID of the study);
  - series /metadata latency, first request and warm (median of 21);
  - frames per second over 4 connections, every frame of the series once,
    with transfer-syntax=* (as stored) and as native pixels.
"""

import statistics
import sys
import threading
import time

import requests

name, base, user, password, study, series = sys.argv[1:7]
auth = (user, password) if user else None
s = requests.Session()
s.auth = auth


def timed(fn, n):
    ts = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        ts.append((time.perf_counter() - t) * 1000)
    return ts


r = s.get(f"{base}/studies", params={"StudyInstanceUID": study}, headers={"Accept": "application/dicom+json"})
r.raise_for_status()
pid = r.json()[0]["00100020"]["Value"][0]
qido = timed(lambda: s.get(f"{base}/studies", params={"PatientID": pid},
                           headers={"Accept": "application/dicom+json"}).raise_for_status(), 21)
meta_url = f"{base}/studies/{study}/series/{series}/metadata"
t = time.perf_counter()
meta = s.get(meta_url, headers={"Accept": "application/dicom+json", "Accept-Encoding": "gzip"})
meta.raise_for_status()
first = (time.perf_counter() - t) * 1000
instances = [m["00080018"]["Value"][0] for m in meta.json()]
warm = timed(lambda: s.get(meta_url, headers={"Accept": "application/dicom+json",
                                              "Accept-Encoding": "gzip"}).raise_for_status(), 21)
print(f"{name:9} QIDO study by PatientID: median {statistics.median(qido):6.1f} ms")
print(f"{name:9} series metadata ({len(instances)} instances): first {first:7.1f} ms, warm median {statistics.median(warm):6.1f} ms")


def frames(accept):
    todo = list(instances)
    lock = threading.Lock()
    errors = []

    def worker():
        ws = requests.Session()
        ws.auth = auth
        while True:
            with lock:
                if not todo:
                    return
                sop = todo.pop()
            r = ws.get(f"{base}/studies/{study}/series/{series}/instances/{sop}/frames/1",
                       headers={"Accept": accept})
            if r.status_code != 200 or len(r.content) < 100:
                errors.append(r.status_code)

    t = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    dt = time.perf_counter() - t
    return len(instances) / dt, errors


for label, accept in [
    ("as stored", "multipart/related; type=application/octet-stream; transfer-syntax=*"),
    ("native", "multipart/related; type=application/octet-stream"),
]:
    for run in (1, 2):
        fps, errors = frames(accept)
        print(f"{name:9} frames {label:9} run {run}: {fps:7.1f} frames/s over 4 connections"
              + (f" ({len(errors)} errors: {errors[:3]})" if errors else ""))
