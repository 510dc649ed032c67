#!/usr/bin/env bash
# System test: cluster/kubernetes validates against the Kubernetes schemas, hangs together, and
# its commands and probes work when run here.
# lane: background (mostly waits: its coordinator and workers idle on timers; about 6 s of CPU in 35 s)
set -euo pipefail
if [[ "${1:-}" == "-h" || "${1:-}" == "--help" ]]; then
    cat <<'USAGE'
Usage: scripts/system-tests/53-kubernetes-manifests.sh   (HEMO=/path/to/hemo)

1. Validates every manifest in cluster/kubernetes/ (strict: unknown fields fail) against the
   Kubernetes 1.30 JSON schemas with PyPI's kubernetes-validate (installed with pip when missing;
   it ships the schemas, so no cluster and no network at validation time). When kubectl is on
   PATH, also renders the kustomization (with keys from `hemo keygen`) and validates the result.
2. Checks that the pieces fit: the Service selects the coordinator pod, workers connect to the
   Service's name and port, every PVC, ConfigMap and Secret key used is defined, the coordinator
   is a single Recreate replica, its probes run `hemo status`, and the workers' grace period is
   long enough for a drain (5 minutes or more).
3. Runs the containers' commands here, with $HEMO for /usr/local/bin/hemo, keys from
   `hemo keygen` for /keys and a free port for 5555: the coordinator's shell command on a
   synthetic cohort, its readiness probe until it passes, the worker's command until the run
   completes; the release must equal `hemo build`'s, and then the coordinator's command must
   idle and its liveness probe pass on the complete release.
4. cluster/kubernetes/shards/: the Indexed Job and the merge Job validate (also rendered), the
   Job is Indexed with completions = parallelism = HEMO_PARTS and retries per index; then their
   commands run here: the merge Job's command first (it must wait for the parts), the Indexed
   Job's command once per JOB_COMPLETION_INDEX (one index stopped with SIGKILL mid-part and run
   again: it resumes), and the merged release must equal `hemo build`'s file for file.
Prints SKIP when kubernetes-validate cannot be installed.
USAGE
    exit 0
fi
root=$(cd "$(dirname "$0")/../.." && pwd)
fail() { echo "FAIL: $*" >&2; exit 1; }
[[ -n "${HEMO:-}" && -x "${HEMO:-}" ]] || fail "set HEMO to the hemo binary"
if ! python3 -c 'import kubernetes_validate, yaml' 2>/dev/null; then
    echo "installing kubernetes-validate (pip)"
    python3 -m pip install --quiet --disable-pip-version-check kubernetes-validate >/dev/null 2>&1 ||
        { echo "SKIP: kubernetes-validate cannot be installed from PyPI here"; exit 0; }
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
manifests=$root/cluster/kubernetes

# Keys as the operator makes them (keys/README).
mkdir -p "$work/keys"
for name in coordinator worker admin; do "$HEMO" keygen --out "$work/keys/$name" >/dev/null; done
cat "$work/keys/worker.public" "$work/keys/admin.public" >"$work/keys/allowed-keys"

echo "--- schemas"
files=()
for f in "$manifests"/*.yaml; do
    [[ "${f##*/}" == kustomization.yaml ]] || files+=("${f##*/}")
done
(cd "$manifests" && python3 -m kubernetes_validate --strict --quiet -k 1.30.0 "${files[@]}") ||
    fail "a manifest does not validate against the Kubernetes 1.30 schemas"
echo "validated: ${files[*]}"
if command -v kubectl >/dev/null 2>&1; then
    cp -r "$manifests" "$work/kustomize"
    cp "$work/keys/"{coordinator.public,coordinator.secret,worker.secret,admin.secret,allowed-keys} "$work/kustomize/keys/"
    kubectl kustomize "$work/kustomize" >"$work/rendered.yaml" || fail "kubectl kustomize failed"
    python3 -m kubernetes_validate --strict --quiet -k 1.30.0 "$work/rendered.yaml" ||
        fail "the rendered kustomization does not validate"
    echo "kustomization renders $(grep -c '^kind:' "$work/rendered.yaml") resources, all valid"
else
    [[ "${CI:-}" == "true" ]] && fail "under CI every part must run: no kubectl to render the kustomization"
    echo "note: no kubectl here; the kustomization is checked by the consistency step only"
fi

echo "--- consistency, and the containers' commands"
"$HEMO" synth --out "$work/cohort" --cases 4 --in-plane 48 --slices 6 --threads 1 >/dev/null
"$HEMO" build --cohort "$work/cohort" --out "$work/reference" --threads 1 >/dev/null 2>&1
python3 - "$manifests" "$work" "$HEMO" <<'PY'
import os, pathlib, re, shlex, socket, subprocess, sys, time
import yaml

manifests, work, hemo = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2]), sys.argv[3]
def fail(msg):
    print(f"FAIL: {msg}", file=sys.stderr)
    sys.exit(1)

docs = []
for f in sorted(manifests.glob("*.yaml")):
    docs += [(f.name, d) for d in yaml.safe_load_all(f.read_text()) if d]
kust = next(d for n, d in docs if d.get("kind") == "Kustomization")
for r in kust["resources"]:
    if not (manifests / r).is_file():
        fail(f"kustomization.yaml lists {r}, which does not exist")
by_kind = {}
for name, d in (x for x in docs if "metadata" in x[1]):
    by_kind.setdefault(d["kind"], {})[d["metadata"]["name"]] = d
deploy = by_kind["Deployment"]
coord, worker = deploy["hemo-coordinator"], deploy["hemo-worker"]
service = by_kind["Service"]["hemo-coordinator"]
config = by_kind["ConfigMap"]["hemo-config"]["data"]
secret_keys = set(by_kind["Secret"]["hemo-curve-keys"]["stringData"])
generated = {pathlib.Path(f).name for g in kust["secretGenerator"] for f in g["files"]}
if generated != secret_keys:
    fail(f"secretGenerator files {sorted(generated)} differ from the example Secret's keys {sorted(secret_keys)}")

if coord["spec"]["replicas"] != 1 or coord["spec"]["strategy"]["type"] != "Recreate":
    fail("the coordinator must be one replica with the Recreate strategy (one journal, one writer)")
labels = coord["spec"]["template"]["metadata"]["labels"]
if not all(labels.get(k) == v for k, v in service["spec"]["selector"].items()):
    fail("the Service does not select the coordinator pod")
cport = coord["spec"]["template"]["spec"]["containers"][0]["ports"][0]
if service["spec"]["ports"][0]["targetPort"] not in (cport["name"], cport["containerPort"]):
    fail("the Service's targetPort is not the coordinator's port")
connect = config["HEMO_CONNECT"]
if connect != f"tcp://{service['metadata']['name']}:{service['spec']['ports'][0]['port']}":
    fail(f"HEMO_CONNECT {connect} is not the coordinator Service")
grace = worker["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
if grace < 300:
    fail(f"worker terminationGracePeriodSeconds {grace} is too short for a drain")
pvcs = set(by_kind["PersistentVolumeClaim"])
for dname, d in deploy.items():
    pod = d["spec"]["template"]["spec"]
    for v in pod.get("volumes", []):
        if "persistentVolumeClaim" in v and v["persistentVolumeClaim"]["claimName"] not in pvcs:
            fail(f"{dname} mounts an undefined PVC {v['persistentVolumeClaim']['claimName']}")
        if "secret" in v:
            for item in v["secret"].get("items", []):
                if item["key"] not in secret_keys:
                    fail(f"{dname} mounts Secret key {item['key']}, which the Secret lacks")
    c = pod["containers"][0]
    refs = [e["configMapRef"]["name"] for e in c.get("envFrom", [])] + \
           [e["valueFrom"]["configMapKeyRef"]["name"] for e in c.get("env", []) if "valueFrom" in e]
    for ref in refs:
        if ref not in by_kind["ConfigMap"]:
            fail(f"{dname} uses an undefined ConfigMap {ref}")
    sc = c["securityContext"]
    if sc.get("allowPrivilegeEscalation") is not False or sc.get("capabilities", {}).get("drop") != ["ALL"]:
        fail(f"{dname} must drop all capabilities and forbid privilege escalation")
cc = coord["spec"]["template"]["spec"]["containers"][0]
for probe in ("readinessProbe", "livenessProbe"):
    if "hemo status" not in " ".join(cc[probe]["exec"]["command"]).replace("/usr/local/bin/hemo", "hemo"):
        fail(f"the coordinator's {probe} does not run `hemo status`")
print("consistency: Service, ports, PVCs, ConfigMap, Secret keys, probes and grace period fit")

# Run the containers' commands here: hemo -> $HEMO, /keys -> generated keys, port -> a free one.
with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
def local(text):
    return (text.replace("/usr/local/bin/hemo", hemo).replace("/keys/", f"{work}/keys/")
                .replace(":5555", f":{port}").replace("hemo-coordinator:", "127.0.0.1:"))
env = dict(os.environ)
env.update({k: local(v) for k, v in config.items()})
env["HEMO_COHORT"] = f"{work}/cohort"
env["HEMO_RELEASE"] = f"{work}/release-volume/hemorica"
os.makedirs(f"{work}/release-volume")
def start(container, log):
    argv = [local(a) for a in container["command"] + container["args"]]
    argv = [re.sub(r"\$\((\w+)\)", lambda m: env[m.group(1)], a) for a in argv]
    return subprocess.Popen(argv, env=env, stdout=open(log, "w"), stderr=subprocess.STDOUT)
def probe(name):
    return subprocess.run([local(a) for a in cc[name]["exec"]["command"]], env=env,
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0
wc = worker["spec"]["template"]["spec"]["containers"][0]
coordinator = start(cc, f"{work}/coordinator.log")
pids = [coordinator]
try:
    deadline = time.time() + 60
    while not probe("readinessProbe"):
        if coordinator.poll() is not None or time.time() > deadline:
            fail("the coordinator's command never became ready: " + open(f"{work}/coordinator.log").read())
        time.sleep(0.3)
    print("coordinator command: ready (its readiness probe passed)")
    if not probe("livenessProbe"):
        fail("the liveness probe fails on a serving coordinator")
    w = start(wc, f"{work}/worker.log")
    pids.append(w)
    if coordinator.wait(timeout=180) != 0:
        fail("the coordinator's command failed: " + open(f"{work}/coordinator.log").read())
    if w.wait(timeout=30) != 0:
        fail("the worker's command failed: " + open(f"{work}/worker.log").read())
    ref = open(f"{work}/reference/MANIFEST.sha256").read()
    if open(env["HEMO_RELEASE"] + "/MANIFEST.sha256").read() != ref:
        fail("the release made by the containers' commands differs from hemo build's")
    print("coordinator + worker commands: release complete, MANIFEST.sha256 equals hemo build's")
    idle = start(cc, f"{work}/idle.log")
    pids.append(idle)
    time.sleep(1)
    if idle.poll() is not None or "complete; idling" not in open(f"{work}/idle.log").read():
        fail("on a complete release the coordinator's command should idle: " + open(f"{work}/idle.log").read())
    if not probe("livenessProbe"):
        fail("the liveness probe fails on a complete release (the pod would restart forever)")
    if probe("readinessProbe"):
        fail("the readiness probe passes with no coordinator serving")
    print("complete release: the coordinator idles, alive but not ready")
finally:
    for p in pids:
        if p.poll() is None:
            p.kill()
PY
echo "--- shards: the Indexed Job and the merge Job"
shards=$manifests/shards
(cd "$shards" && python3 -m kubernetes_validate --strict --quiet -k 1.30.0 configmap.yaml job-shards.yaml job-merge.yaml) ||
    fail "a manifest in cluster/kubernetes/shards does not validate against the Kubernetes 1.30 schemas"
if command -v kubectl >/dev/null 2>&1; then
    kubectl kustomize "$shards" >"$work/shards-rendered.yaml" || fail "kubectl kustomize cluster/kubernetes/shards failed"
    python3 -m kubernetes_validate --strict --quiet -k 1.30.0 "$work/shards-rendered.yaml" ||
        fail "the rendered shards kustomization does not validate"
fi
echo "validated: shards/configmap.yaml shards/job-shards.yaml shards/job-merge.yaml"
"$HEMO" synth --out "$work/cohort8" --cases 8 --in-plane 48 --slices 6 --threads 1 >/dev/null
"$HEMO" build --cohort "$work/cohort8" --out "$work/reference8" --threads 1 >/dev/null 2>&1
python3 - "$shards" "$work" "$HEMO" <<'PY'
import filecmp, os, pathlib, signal, subprocess, sys, time
import yaml

shards, work, hemo = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2]), sys.argv[3]
def fail(msg):
    print(f"FAIL: {msg}", file=sys.stderr)
    sys.exit(1)
docs = {}
for f in sorted(shards.glob("*.yaml")):
    for d in yaml.safe_load_all(f.read_text()):
        if d and "metadata" in d:
            docs[(d["kind"], d["metadata"]["name"])] = d
kust = yaml.safe_load((shards / "kustomization.yaml").read_text())
for r in kust["resources"]:
    if not (shards / r).is_file():
        fail(f"shards/kustomization.yaml lists {r}, which does not exist")
config = docs[("ConfigMap", "hemo-shards-config")]["data"]
job, merge = docs[("Job", "hemo-shards")], docs[("Job", "hemo-merge")]
n = int(config["HEMO_PARTS"])
spec = job["spec"]
if spec.get("completionMode") != "Indexed":
    fail("hemo-shards is not an Indexed Job")
if spec["completions"] != n or spec["parallelism"] != n:
    fail(f"hemo-shards runs {spec['completions']} completions ({spec['parallelism']} at once) but HEMO_PARTS is {n}")
if spec.get("backoffLimitPerIndex", 0) < 1:
    fail("hemo-shards does not retry a failed index (backoffLimitPerIndex)")
for d in (job, merge):
    pod = d["spec"]["template"]["spec"]
    if pod["restartPolicy"] != "Never":
        fail(f"{d['metadata']['name']}: restartPolicy must be Never (retries are new pods of the same index)")
    c = pod["containers"][0]
    for e in c.get("envFrom", []):
        if e["configMapRef"]["name"] != "hemo-shards-config":
            fail(f"{d['metadata']['name']} uses an undefined ConfigMap")
    sc = c["securityContext"]
    if sc.get("allowPrivilegeEscalation") is not False or sc.get("capabilities", {}).get("drop") != ["ALL"] or not sc.get("readOnlyRootFilesystem"):
        fail(f"{d['metadata']['name']} must drop all capabilities, forbid privilege escalation and mount / read-only")
print(f"consistency: Indexed Job with {n} completions = HEMO_PARTS, retries per index, merge Job on the same config")

env = dict(os.environ)
env.update(config)
env["HEMO_COHORT"] = f"{work}/cohort8"
env["HEMO_RELEASE"] = f"{work}/shard-volume/hemorica"
env["HEMO_MERGE_POLL"] = "0.3"
os.makedirs(f"{work}/shard-volume")
def start(d, log, index=None):
    c = d["spec"]["template"]["spec"]["containers"][0]
    argv = [a.replace("/usr/local/bin/hemo", hemo) for a in c["command"] + c["args"]]
    e = dict(env)
    if index is not None:
        e["JOB_COMPLETION_INDEX"] = str(index)
    return subprocess.Popen(argv, env=e, stdout=open(log, "a"), stderr=subprocess.STDOUT, start_new_session=True)
merger = start(merge, f"{work}/merge.log")
procs = [merger]
try:
    time.sleep(1)
    if merger.poll() is not None:
        fail("the merge Job's command did not wait for the parts: " + open(f"{work}/merge.log").read())
    # Index 0 is stopped with SIGKILL once its part has journaled an exam, then runs again.
    victim = start(job, f"{work}/shard-0.log", 0)
    procs.append(victim)
    journal = pathlib.Path(env["HEMO_RELEASE"] + f".parts/.part-1-of-{n}.journal")
    deadline = time.time() + 120
    while not (journal.is_file() and len(journal.read_text().splitlines()) >= 2):
        if victim.poll() is not None or time.time() > deadline:
            break
        time.sleep(0.05)
    killed = victim.poll() is None
    if killed:
        os.killpg(victim.pid, signal.SIGKILL)
        victim.wait()
        # Committed in the instant before the kill: nothing left to resume.
        killed = not pathlib.Path(env["HEMO_RELEASE"] + f".parts/part-1-of-{n}/MANIFEST.sha256").is_file()
    for i in range(0 if killed or not pathlib.Path(env["HEMO_RELEASE"] + f".parts/part-1-of-{n}/MANIFEST.sha256").is_file() else 1, n):
        p = start(job, f"{work}/shard-{i}.log", i)
        procs.append(p)
        if p.wait(timeout=300) != 0:
            fail(f"index {i}: the Indexed Job's command failed: " + open(f"{work}/shard-{i}.log").read())
    if killed and "resumed from the journal" not in open(f"{work}/shard-0.log").read():
        fail("index 0 did not resume its part from the journal after SIGKILL: " + open(f"{work}/shard-0.log").read())
    if merger.wait(timeout=120) != 0:
        fail("the merge Job's command failed: " + open(f"{work}/merge.log").read())
    ref, got = f"{work}/reference8", env["HEMO_RELEASE"]
    def files(root):
        return sorted(str(p.relative_to(root)) for p in pathlib.Path(root).rglob("*") if p.is_file())
    if files(ref) != files(got):
        fail("the merged release holds other files than hemo build's")
    _, mismatch, errors = filecmp.cmpfiles(ref, got, files(ref), shallow=False)
    if mismatch or errors:
        fail(f"the merged release differs from hemo build's: {(mismatch + errors)[:5]}")
    # A pod retried after the merge does nothing.
    again = start(job, f"{work}/shard-again.log", 1)
    if again.wait(timeout=30) != 0 or "already merged" not in open(f"{work}/shard-again.log").read():
        fail("an index run after the merge did not stop at once")
    print(f"indexed job: {n} parts ({'index 0 killed and resumed' if killed else 'index 0 finished before it could be killed'}), merge Job waited then merged: equal to hemo build's, {len(files(ref))} files")
finally:
    for p in procs:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
PY
echo "PASS: Kubernetes manifests valid, consistent, and their commands and probes work"
