#!/usr/bin/env bash
# Mutation testing of gradlab with cosmic-ray (dev only, not part of CI). See mutation.toml.
#
#   bash tools/mutation_test.sh [target ...]     # default: every target in mutation.toml
#
# Environment:
#   MUTATION_DIR    scratch directory (default /tmp/gradlab-mutation): the copy of the tree that
#                   is mutated, one session and one report per target, a JAX compilation cache
#   EVERY           keep every EVERY-th mutant of each target, overriding mutation.toml's `every`
#   BUDGET          stop each target's run after BUDGET seconds (what ran is kept; RESUME=1 goes on)
#   RESUME=1        continue the existing sessions instead of starting new ones
#   RERUN=survived  forget the survivors' results and run them again, with the files in REFRESH
#                   (default: mutation.toml tests/test_mutants.py) taken from the tree
#   WITHOUT         test files to leave out of every command, e.g. WITHOUT=tests/test_mutants.py
#                   for the survivors of the rest of the suite
#
# Run one test process at a time (this script does): each mutant runs the target's pytest
# command. Survivors, with their diffs, are written to $MUTATION_DIR/<target>.txt.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DIR=${MUTATION_DIR:-/tmp/gradlab-mutation}
SRC=$DIR/src
mkdir -p "$DIR"
command -v cosmic-ray >/dev/null || {
    echo "cosmic-ray is not installed: pip install cosmic-ray" >&2
    exit 1
}

# A compilation cache shared by all mutants: unmutated kernels are compiled once, not per mutant.
export JAX_COMPILATION_CACHE_DIR=$DIR/jax-cache
export JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS=0
export JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES=-1

# cosmic-ray rewrites the mutated file on disk while the tests run: mutate a copy, never the tree.
# RESUME and RERUN keep the copy (the sessions' mutants are positions in its code, and its tests
# match it) and refresh only the paths in REFRESH from the tree.
if [[ ( "${RESUME:-}" == 1 || "${RERUN:-}" == survived ) && -d $SRC/gradlab ]]; then
    for path in ${REFRESH:-mutation.toml tests/test_mutants.py}; do
        mkdir -p "$SRC/$(dirname "$path")" && cp -r "$ROOT/$path" "$SRC/$path"
    done
else
    rm -rf "$SRC" && mkdir -p "$SRC"
    (cd "$ROOT" && tar --exclude=.venv --exclude=.git --exclude=__pycache__ --exclude='*.egg-info' \
        --exclude=.pytest_cache --exclude=.hypothesis --exclude=.mypy_cache --exclude=.ruff_cache \
        -cf - .) | tar -xf - -C "$SRC"
fi
cd "$SRC"  # `python -m pytest` puts this copy first on sys.path, before an editable install

mapfile -t TARGETS < <(python - "$@" <<'EOF'
import sys, toml
targets = toml.load("mutation.toml")["gradlab-mutation"]["targets"]
unknown = [t for t in sys.argv[1:] if t not in targets]
if unknown:
    sys.exit(f"unknown target(s) {unknown}; mutation.toml has {sorted(targets)}")
print("\n".join(sys.argv[1:] or targets))
EOF
)

for target in "${TARGETS[@]}"; do
    cfg=$DIR/$target.toml
    session=$DIR/$target.sqlite
    python - "$target" "$cfg" <<'EOF'
import os, shlex, sys, toml
target, cfg = sys.argv[1:]
conf = toml.load("mutation.toml")
t = conf["gradlab-mutation"]["targets"][target]
modules = t["module"] if isinstance(t["module"], list) else [t["module"]]
without = os.environ.get("WITHOUT", "").split()
# The modules' doctests first, then the tests; files this copy lacks are left out.
tests = [f for f in modules + t["tests"] if os.path.exists(f) and f not in without]
command = conf["gradlab-mutation"]["pytest"] + " " + " ".join(tests)
if "k" in t:
    command += " -k " + shlex.quote(t["k"])
cr = dict(conf["cosmic-ray"], **{"module-path": modules, "test-command": command})
with open(cfg, "w") as f:
    toml.dump({"cosmic-ray": cr}, f)
print(f"== {target}: {command}")
EOF
    if [[ "${RESUME:-}" != 1 && "${RERUN:-}" != survived ]] || [[ ! -f $session ]]; then
        rm -f "$session"
        cosmic-ray init "$cfg" "$session"
        cr-filter-operators "$session" "$cfg"
        python - "$target" "$session" "${EVERY:-}" <<'EOF'
# Drop mutants outside `definitions`, those that do not compile, and all but every k-th one.
import sys, toml
from pathlib import Path
from cosmic_ray.mutating import mutate_code
from cosmic_ray.plugins import get_operator
from cosmic_ray.work_db import WorkDB, use_db
from cosmic_ray.work_item import WorkerOutcome, WorkResult

target, session, every = sys.argv[1:]
t = toml.load("mutation.toml")["gradlab-mutation"]["targets"][target]
every = int(every or t.get("every", 1))
definitions = t.get("definitions")
sources = {}
with use_db(session, WorkDB.Mode.open) as db:
    items = sorted(
        db.pending_work_items,
        key=lambda w: (str(w.mutations[0].module_path), w.mutations[0].start_pos,
                       w.mutations[0].operator_name, w.mutations[0].occurrence),
    )
    kept = []
    for item in items:
        m = item.mutations[0]
        why = None
        if definitions and m.definition_name not in definitions:
            why = f"outside {definitions}"
        else:
            path = Path(m.module_path)
            sources.setdefault(path, path.read_text())
            code = mutate_code(sources[path], get_operator(m.operator_name)(**m.operator_args),
                               m.occurrence)
            try:
                compile(code or "", str(path), "exec")
            except SyntaxError:
                why = "does not compile"
        if why:
            db.set_result(item.job_id, WorkResult(output=why, worker_outcome=WorkerOutcome.SKIPPED))
        else:
            kept.append(item)
    for i, item in enumerate(kept):
        if i % every:
            db.set_result(item.job_id, WorkResult(output=f"sampled out (every {every})",
                                                  worker_outcome=WorkerOutcome.SKIPPED))
    print(f"{len(items)} mutants after the operator filter, {len(kept)} in range and "
          f"compiling, {len(kept[::every])} to run (every {every})")
EOF
    elif [[ "${RERUN:-}" == survived ]]; then
        python - "$session" <<'EOF'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
n = db.execute("DELETE FROM work_results WHERE test_outcome = 'SURVIVED'").rowcount
db.commit()
print(f"{n} survivors to run again")
EOF
    fi
    if ! cosmic-ray baseline "$cfg" >/dev/null; then
        echo "$target: the tests fail on the unmutated code" >&2
        exit 1
    fi
    ${BUDGET:+timeout "$BUDGET"} cosmic-ray exec "$cfg" "$session" || echo "$target: stopped"
    python - "$target" "$session" "$DIR/$target.txt" <<'EOF'
import collections, sys
from cosmic_ray.work_db import WorkDB, use_db
target, session, out = sys.argv[1:]
with use_db(session, WorkDB.Mode.open) as db:
    done = db.completed_work_items
    pending = len(db.pending_work_items)
count = collections.Counter(
    r.test_outcome.value if r.test_outcome else r.worker_outcome.value for _, r in done
)
survivors = sorted((r for w, r in done if r.test_outcome and r.test_outcome.value == "survived"),
                   key=lambda r: r.diff)
with open(out, "w") as f:
    for r in survivors:
        f.write(r.diff + "\n\n")
print(f"{target}: killed {count['killed']}, survived {count['survived']}, incompetent "
      f"{count['incompetent']}, skipped {count['skipped']}, pending {pending} -> {out}")
EOF
done
