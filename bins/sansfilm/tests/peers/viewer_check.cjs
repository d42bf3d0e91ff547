// The viewer and the practice page in a real browser: headless Chromium
// (Debian's), driven by playwright-core, against `sansfilm serve`.
//
// Usage: node viewer_check.cjs BASE_URL USER PASSWORD STUDY_UID PATIENT_TEXT
//          SHARE_TOKEN OTHER_STUDY_UID OUT_DIR
// Prints "ok: ..." per check, "ALL OK" at the end; exits 1 on the first
// failure. Screenshots go to OUT_DIR (practice.png, viewer.png, share.png).
// Needs NODE_PATH to find playwright-core, CHROMIUM for the browser.

const { chromium } = require("playwright-core");

const [base, user, password, study, patient, token, other, out] = process.argv.slice(2);

function check(cond, msg) {
  if (!cond) {
    console.log(`FAIL: ${msg}`);
    process.exit(1);
  }
  console.log(`ok: ${msg}`);
}

// Waits until the viewer's canvas shows an image: a screenshot of it with
// a share of pixels that are not black (decoded in the page itself).
async function waitDrawn(page, name) {
  const deadline = Date.now() + 120000;
  let lit = 0;
  while (Date.now() < deadline) {
    const canvas = await page.$("canvas.cornerstone-canvas, .cornerstone-viewport-element canvas, canvas");
    if (canvas) {
      const png = (await canvas.screenshot()).toString("base64");
      lit = await page.evaluate(async (b64) => {
        const img = new Image();
        img.src = "data:image/png;base64," + b64;
        await img.decode();
        const c = document.createElement("canvas");
        c.width = img.width;
        c.height = img.height;
        const g = c.getContext("2d");
        g.drawImage(img, 0, 0);
        const d = g.getImageData(0, 0, c.width, c.height).data;
        let n = 0;
        for (let i = 0; i < d.length; i += 4) if (d[i] + d[i + 1] + d[i + 2] > 60) n++;
        return n / (d.length / 4);
      }, png);
      if (lit > 0.02) break;
    }
    await page.waitForTimeout(1000);
  }
  await page.screenshot({ path: `${out}/${name}.png` });
  check(lit > 0.02, `${name}: the image is drawn (${(lit * 100).toFixed(1)} % of the canvas lit)`);
}

(async () => {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--enable-unsafe-swiftshader",
      "--use-angle=swiftshader",
    ],
  });
  try {
    // A practice user logs in and finds the study on the practice page.
    const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await ctx.newPage();
    page.on("pageerror", (e) => console.log(`page error: ${e.message}`));
    await page.goto(`${base}/viewer?StudyInstanceUIDs=${study}`);
    check(page.url().startsWith(`${base}/login`), "the viewer sends a stranger to the login page");
    await page.goto(`${base}/login`);
    await page.fill("input[name=user]", user);
    await page.fill("input[name=password]", password);
    await Promise.all([page.waitForURL(`${base}/`), page.click("button[type=submit]")]);
    const list = await page.textContent("table");
    check(list.includes(patient), `the practice page lists the study of ${patient}`);
    await page.waitForFunction(
      () => [...document.images].some((i) => i.complete && i.naturalWidth > 0),
      null,
      { timeout: 30000 },
    );
    check(true, "a thumbnail is shown");
    const href = await page.getAttribute(`a[href*="StudyInstanceUIDs=${study}"]`, "href");
    check(href === `/viewer?StudyInstanceUIDs=${study}`, "the study links to the viewer");
    await page.screenshot({ path: `${out}/practice.png` });
    const frameUrls = [];
    page.on("request", (r) => {
      if (r.url().includes("/frames/")) frameUrls.push([r.url(), r.headers()["accept"] || ""]);
    });
    await page.goto(base + href);
    await waitDrawn(page, "viewer");
    check(frameUrls.length > 0, `the viewer fetched frames (${frameUrls.length} requests, Accept: ${frameUrls[0] && frameUrls[0][1]})`);
    // What came back for the viewer's own request: each part names its syntax.
    const syntax = await page.evaluate(async ([u, accept]) => {
      const r = await fetch(u, { headers: { Accept: accept } });
      const t = new TextDecoder("latin1").decode(await r.arrayBuffer());
      const m = t.match(/Content-Type: [^\r\n]*transfer-syntax=([0-9.]+)/);
      return m ? m[1] : "none";
    }, frameUrls[0]);
    console.log(`frames as stored: ${syntax}`);
    const headers = await page.evaluate(async () => {
      const r = await fetch("/viewer");
      return [r.headers.get("cross-origin-opener-policy"), r.headers.get("cross-origin-embedder-policy")];
    });
    check(headers[0] === "same-origin" && headers[1] === "require-corp", "COOP and COEP are sent");

    // The referring physician opens the share link: the study, and no other.
    const ctx2 = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const gp = await ctx2.newPage();
    await gp.goto(`${base}/share/${token}`);
    check(gp.url().includes(`/viewer?StudyInstanceUIDs=${study}`), "the share link opens the viewer on its study");
    await waitDrawn(gp, "share");
    const seen = await gp.evaluate(async () => (await (await fetch("/dicom-web/studies")).json()).map((s) => s["0020000D"].Value[0]));
    check(seen.length === 1 && seen[0] === study, "the share sees its study only");
    const status = await gp.evaluate(async (o) => (await fetch(`/dicom-web/studies/${o}/metadata`)).status, other);
    check(status === 404, "another study is not found through the share");
    console.log("ALL OK");
  } finally {
    await browser.close();
  }
})().catch((e) => {
  console.log(`FAIL: ${e.stack || e}`);
  process.exit(1);
});
