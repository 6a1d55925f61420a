#!/usr/bin/env bash
# Render the sample run's workbook the way a spreadsheet shows it: run the
# sandbox sample, convert qualifications.xlsx to PDF with LibreOffice
# (headless) and every PDF page to a PNG, so a person can look at each page.
# Not run by CI. Needs (Debian/Ubuntu):
#   apt-get install -y --no-install-recommends libreoffice-calc poppler-utils
#
# Usage: scripts/render-workbook.sh [--update-docs] [OUT_DIR [RUN_OPTION ...]]
#   OUT_DIR       where to put report/, qualifications.pdf and page-N.png
#                 (default: a new temporary folder)
#   RUN_OPTION    more `qualrecon run` options, e.g. --input other.csv
#   --update-docs also write the first page (the Summary) to
#                 docs/workbook-summary.png, the picture in the README
# Environment: RESOLUTION (PNG dots per inch, default 70).
set -euo pipefail
cd "$(dirname "$0")/.."

update_docs=false
if [ "${1:-}" = "--update-docs" ]; then
    update_docs=true
    shift
fi
out="${1:-$(mktemp -d "${TMPDIR:-/tmp}/qualrecon-render.XXXXXX")}"
shift || true

for tool in libreoffice pdftoppm; do
    if ! command -v "$tool" >/dev/null; then
        echo "render-workbook: needs $tool (apt-get install -y --no-install-recommends libreoffice-calc poppler-utils)" >&2
        exit 1
    fi
done

mkdir -p "$out"
rm -f "$out"/page-*.png "$out/qualifications.pdf"
# The sample exits 3 by design (an invalid id, customers the API refuses);
# any other failure stops the script.
cargo run --quiet -- run --sandbox --input samples/tenants.csv --out "$out/report" --quiet "$@" \
    || [ $? -eq 3 ]

# A private LibreOffice profile, so a running office or the user's own
# settings do not interfere.
libreoffice -env:UserInstallation="file://$out/lo-profile" --headless \
    --convert-to pdf --outdir "$out" "$out/report/qualifications.xlsx" >/dev/null
pdftoppm -r "${RESOLUTION:-70}" -png "$out/qualifications.pdf" "$out/page"

if $update_docs; then
    # The Summary is the first page; keep its written part (the sample's
    # Summary fills about the top half of the page), at a readable size.
    pdftoppm -r 80 -f 1 -l 1 -x 27 -y 36 -W 622 -H 622 -png -singlefile \
        "$out/qualifications.pdf" docs/workbook-summary
    echo "updated docs/workbook-summary.png"
fi
echo "$out/qualifications.pdf"
ls "$out"/page-*.png
