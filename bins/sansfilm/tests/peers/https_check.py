"""HTTPS to sansfilm's web server with requests (urllib3), the certificate
checked against the test's CA.

Usage: https_check.py BASE_URL CA_PEM USER PASSWORD
"""

import sys

import requests


def check(cond, msg):
    if not cond:
        print(f"FAIL: {msg}")
        sys.exit(1)
    print(f"ok: {msg}")


base, ca, user, password = sys.argv[1:5]
r = requests.get(f"{base}/dicom-web/studies", auth=(user, password), verify=ca, timeout=10)
check(r.status_code == 200 and r.json() == [], f"QIDO over HTTPS with HTTP Basic: {r.status_code}")
r = requests.get(f"{base}/dicom-web/studies", verify=ca, timeout=10)
check(r.status_code == 401, "no credentials: 401")
r = requests.post(f"{base}/login", data={"user": user, "password": password, "next": "/"},
                  verify=ca, allow_redirects=False, timeout=10)
cookie = r.headers.get("set-cookie", "")
check(r.status_code == 303 and "Secure" in cookie and "HttpOnly" in cookie, f"login cookie over HTTPS: {cookie}")
try:
    bad = requests.get(base.replace("https://", "http://") + "/login", timeout=5)
    check(bad.status_code >= 400, f"plain HTTP on the HTTPS port: {bad.status_code}")
except requests.exceptions.RequestException as e:
    check(True, f"plain HTTP on the HTTPS port fails: {type(e).__name__}")
print("ALL OK")
