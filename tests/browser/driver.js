#!/usr/bin/env node
// driver.js -- a headless chromium for the integration tests, driven line by
// line: one JSON command per line on stdin, one JSON answer per line on
// stdout ({"ok":true,"value":...} or {"ok":false,"error":"..."}).
//
// The browser is Debian's chromium (CHROMIUM, default /usr/bin/chromium),
// started by playwright-core through executablePath: nothing is downloaded.
// From "open" on, everything that would be a problem on the page is kept:
// console errors and warnings, uncaught exceptions, failed requests and
// responses with status >= 400 ("problems" hands them back).
//
// Commands:
//   {"op":"open","url":U}                      launch, new page, go to U, wait for load
//   {"op":"eval","js":EXPR}                    the value of EXPR in the page
//   {"op":"wait","js":EXPR,"timeout_ms":N}     poll EXPR until truthy; its value
//   {"op":"fill","selector":S,"text":T}        type T into S (input events)
//   {"op":"screenshot","path":P,"full_page":B} PNG of the viewport (or whole page) at P
//   {"op":"problems"}                          what was kept (see above)
//   {"op":"close"}                             close the browser; exit 0
"use strict";
const readline = require("readline");
const { chromium } = require("playwright-core");

let browser = null;
let page = null;
const problems = [];

function note(kind, text) {
  problems.push({ kind, text: String(text) });
}

async function open(url) {
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    // containers: no setuid sandbox as root, a small /dev/shm
    args: ["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"],
    timeout: 120000,
  });
  const context = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
  page = await context.newPage();
  page.setDefaultTimeout(30000);
  page.on("console", (m) => {
    if (m.type() === "error" || m.type() === "warning") note("console." + m.type(), m.text());
  });
  page.on("pageerror", (e) => note("pageerror", e && e.stack ? e.stack : e));
  page.on("requestfailed", (r) => {
    const f = r.failure();
    note("requestfailed", r.method() + " " + r.url() + ": " + (f ? f.errorText : "?"));
  });
  page.on("response", (r) => {
    if (r.status() >= 400) note("http" + r.status(), r.request().method() + " " + r.url());
  });
  const resp = await page.goto(url, { waitUntil: "load" });
  return { status: resp ? resp.status() : null, headers: resp ? resp.headers() : {} };
}

async function handle(cmd) {
  switch (cmd.op) {
    case "open":
      return open(cmd.url);
    case "eval":
      return page.evaluate(cmd.js);
    case "wait": {
      // polled from here: waitForFunction would evaluate a string in the page,
      // which the page's CSP (no 'unsafe-eval') refuses, as it should
      const deadline = Date.now() + (cmd.timeout_ms || 60000);
      for (;;) {
        const v = await page.evaluate(cmd.js);
        if (v) return v;
        if (Date.now() >= deadline) throw new Error("timed out: " + cmd.js);
        await new Promise((res) => setTimeout(res, 100));
      }
    }
    case "fill":
      await page.fill(cmd.selector, cmd.text);
      return null;
    case "screenshot":
      await page.screenshot({ path: cmd.path, fullPage: !!cmd.full_page });
      return cmd.path;
    case "problems":
      return problems;
    case "close":
      if (browser) await browser.close();
      browser = null;
      return null;
    default:
      throw new Error("unknown op " + JSON.stringify(cmd.op));
  }
}

const rl = readline.createInterface({ input: process.stdin });
let chain = Promise.resolve();
rl.on("line", (line) => {
  chain = chain.then(async () => {
    let out;
    try {
      const cmd = JSON.parse(line);
      out = { ok: true, value: await handle(cmd) };
      if (cmd.op === "close") {
        process.stdout.write(JSON.stringify(out) + "\n", () => process.exit(0));
        return;
      }
    } catch (e) {
      out = { ok: false, error: String(e && e.stack ? e.stack : e) };
    }
    process.stdout.write(JSON.stringify(out === undefined ? { ok: true } : out) + "\n");
  });
});
rl.on("close", () => {
  chain.then(async () => {
    if (browser) await browser.close().catch(() => {});
    process.exit(0);
  });
});
