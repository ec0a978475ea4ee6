#!/usr/bin/env python3
"""dashboard_embed.py -- turns the dashboard page (dashboard.html) into C.

Run by meson at build time: dashboard_embed.py IN.html OUT.c. Writes the page
as a byte array (gw_dashboard_page, gw_dashboard_page_len), its ETag (the
first 16 bytes of its SHA-256, hex) and its Content-Security-Policy, which
allows exactly the page's inline <script> and <style> blocks by their
SHA-256 (CSP level 2 hash sources) and nothing else but requests to its own
origin. The page stays a plain file that reviewers edit directly."""
import base64
import hashlib
import re
import sys


def main():
    src, dst = sys.argv[1], sys.argv[2]
    with open(src, "rb") as f:
        page = f.read()
    text = page.decode("utf-8")  # refuses a page that is not UTF-8
    scripts = re.findall(r"<script>(.*?)</script>", text, re.S)
    styles = re.findall(r"<style>(.*?)</style>", text, re.S)
    if len(scripts) != 1 or len(styles) != 1:
        sys.exit("%s: want one <script> and one <style> block (no attributes)" % src)
    if re.search(r"<script\s[^>]*src|<link\s[^>]*stylesheet|\sstyle=|\son[a-z]+=", text, re.I):
        sys.exit("%s: external scripts, style sheets, style= or on*= attributes are not allowed"
                 % src)

    def h(s):
        return "'sha256-%s'" % base64.b64encode(hashlib.sha256(s.encode("utf-8")).digest()).decode()

    csp = ("default-src 'none'; script-src %s; style-src %s; img-src data:; connect-src 'self'; "
           "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
           % (h(scripts[0]), h(styles[0])))
    etag = '"%s"' % hashlib.sha256(page).hexdigest()[:32]
    out = ["/* Generated from dashboard.html by dashboard_embed.py: do not edit. */",
           '#include "dashboard.h"', "",
           "const unsigned char gw_dashboard_page[] = {"]
    for i in range(0, len(page), 16):
        out.append("    " + " ".join("0x%02x," % b for b in page[i:i + 16]))
    out += ["};",
            "const size_t gw_dashboard_page_len = %d;" % len(page),
            'const char gw_dashboard_etag[] = "%s";' % etag.replace('"', '\\"'),
            'const char gw_dashboard_csp[] = "%s";' % csp, ""]
    with open(dst, "w") as f:
        f.write("\n".join(out))


if __name__ == "__main__":
    main()
