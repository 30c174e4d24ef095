#!/usr/bin/env bash
# Times `rampart scan` against gitleaks, osv-scanner and trivy — one after the other — on one
# large real source tree, and prints each tool's time and finding count. Not part of the test
# suite: run it by hand (`bash bench/compare-scanners.sh`), it takes a while the first time.
#
# Tools are installed with `go install` at pinned versions. Only the Go module proxy is reachable
# here, so the advisory databases are built locally from golang.org/x/vulndb's OSV files:
# osv-scanner reads them as its offline database, rampart with `rampart db update --source`.
# trivy cannot fetch its own vulnerability database offline; it runs its secret and misconfig
# scanners only, which is what it would add on top of the other two.
set -euo pipefail
cd "$(dirname "$0")/.."

GITLEAKS_VERSION=v8.30.1
OSV_SCANNER_VERSION=v2.2.4   # v2.6.0 needs Go 1.27
TRIVY_VERSION=v0.58.2
GITEA_VERSION=v1.24.0
KUBERNETES_VERSION=v1.33.0

work=${BENCH_DIR:-/tmp/rampart-bench}
bin=$work/bin
mkdir -p "$bin"
log() { printf '==> %s\n' "$*" >&2; }

install() { # install NAME MODULE@VERSION [env…]
  local name=$1 pkg=$2; shift 2
  if [ -x "$bin/$name" ]; then return 0; fi
  log "go install $pkg"
  if ! env GOBIN="$bin" "$@" go install "$pkg" >&2; then
    log "could not install $name; it is left out of the comparison"
    return 1
  fi
}
have_gitleaks=1 have_osv=1 have_trivy=1
install gitleaks "github.com/zricethezav/gitleaks/v8@$GITLEAKS_VERSION" GOFLAGS=-tags=gore2regex \
  || install gitleaks "github.com/zricethezav/gitleaks/v8@$GITLEAKS_VERSION" || have_gitleaks=0
install osv-scanner "github.com/google/osv-scanner/v2/cmd/osv-scanner@$OSV_SCANNER_VERSION" || have_osv=0
install trivy "github.com/aquasecurity/trivy/cmd/trivy@$TRIVY_VERSION" GOEXPERIMENT=jsonv2 || have_trivy=0
log "building rampart"
go build -o "$bin/rampart" ./cmd/rampart

# The corpus: two big real modules, copied out of a scratch module cache (which is read-only).
corpus=$work/corpus
if [ ! -d "$corpus" ]; then
  log "downloading gitea $GITEA_VERSION and kubernetes $KUBERNETES_VERSION into a scratch module cache"
  export GOMODCACHE=$work/modcache GOFLAGS=-modcacherw
  mkdir -p "$corpus"
  for m in "code.gitea.io/gitea@$GITEA_VERSION" "k8s.io/kubernetes@$KUBERNETES_VERSION"; do
    dir=$(go mod download -json "$m" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
    cp -r "$dir" "$corpus/$(basename "${m%@*}")"
  done
  unset GOMODCACHE GOFLAGS
fi
size=$(du -sh "$corpus" | cut -f1)

# Advisory databases from golang.org/x/vulndb.
vulndb=$(go mod download -json golang.org/x/vulndb@latest | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
osvcache=$work/osv-offline/osv-scanner/Go
if [ ! -f "$osvcache/all.zip" ]; then
  mkdir -p "$osvcache"
  (cd "$vulndb/data/osv" && zip -q -r "$osvcache/all.zip" .)
fi
"$bin/rampart" db update --db "$work/rampart-db" --source "$vulndb/data/osv" >&2

timeit() { # timeit NAME COMMAND… ; prints "NAME seconds"
  local name=$1; shift
  local start end
  start=$(date +%s.%N)
  "$@" >"$work/$name.out" 2>"$work/$name.err" || true
  end=$(date +%s.%N)
  echo "$name $(echo "$end - $start" | bc)"
}

log "corpus: $corpus ($size)"
results=()
total=0
if [ $have_gitleaks = 1 ]; then
  r=$(timeit gitleaks "$bin/gitleaks" dir "$corpus" --report-format json --report-path "$work/gitleaks.json" --no-banner --max-decode-depth 5)
  n=$(python3 -c "import json;print(len(json.load(open('$work/gitleaks.json'))))" 2>/dev/null || echo "?")
  results+=("$r findings=$n"); total=$(echo "$total + ${r##* }" | bc)
fi
if [ $have_osv = 1 ]; then
  r=$(OSV_SCANNER_LOCAL_DB_CACHE_DIRECTORY=$work/osv-offline timeit osv-scanner "$bin/osv-scanner" scan source -r --offline-vulnerabilities --format json --output "$work/osv.json" "$corpus")
  n=$(python3 -c "import json;d=json.load(open('$work/osv.json'));print(sum(len(p.get('vulnerabilities',[])) for r in d.get('results',[]) for p in r.get('packages',[])))" 2>/dev/null || echo "?")
  results+=("$r findings=$n"); total=$(echo "$total + ${r##* }" | bc)
fi
if [ $have_trivy = 1 ]; then
  r=$(timeit trivy "$bin/trivy" fs --scanners secret,misconfig --skip-db-update --skip-check-update --offline-scan --format json --output "$work/trivy.json" "$corpus")
  n=$(python3 -c "import json;d=json.load(open('$work/trivy.json'));print(sum(len(x.get('Secrets',[]))+len(x.get('Misconfigurations',[])) for x in d.get('Results',[])))" 2>/dev/null || echo "?")
  results+=("$r findings=$n"); total=$(echo "$total + ${r##* }" | bc)
fi
r=$(timeit rampart "$bin/rampart" scan --db "$work/rampart-db" --format json --output "$work/rampart.json" "$corpus")
n=$(python3 -c "import json;print(len(json.load(open('$work/rampart.json'))))" 2>/dev/null || echo "?")

echo
echo "corpus: gitea $GITEA_VERSION + kubernetes $KUBERNETES_VERSION ($size)"
for x in "${results[@]}"; do echo "  $x"; done
echo "  others together: ${total}s"
echo "  $r findings=$n"
