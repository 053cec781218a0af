# Pose evaluation: the relative camera motion over odometry test sequences from a checkpoint, then the
# metrics of a pose protocol (`pose_protocols:` of params/protocols.yaml). Sequences come from the active
# dataset's `kitti_odometry` companion tree; its `pose_sequences` names the sequence standing in for each
# sequence a protocol scores (default: the sequence itself; one without a stand-in is reported missing).

POSE_PROTOCOLS = _PROTOCOL_DOC.get("pose_protocols") or {}
POSES = f"results/poses/{RUN}/{{method}}/seed{{seed}}/{{weights}}"
ODOMETRY_FORMAT = "kitti_odometry"


def pose_sequences(protocol):
    """Protocol sequence → the active dataset's odometry sequence standing in for it (those that exist)."""
    tree = DS.get("companions", {}).get(ODOMETRY_FORMAT)
    if tree is None:
        return {}
    stand_ins = tree.get("pose_sequences")
    sequences = POSE_PROTOCOLS[protocol]["sequences"]
    if stand_ins is None:
        return {s: s for s in sequences}
    return {s: stand_ins[s] for s in sequences if s in stand_ins}


def pose_prediction_files(protocol, method, seed, weights):
    """Protocol sequence → the pose predictions file of the sequence standing in for it."""
    folder = POSES.format(method=method, seed=seed, weights=weights)
    return {s: f"{folder}/odom_{d}.npz" for s, d in pose_sequences(protocol).items()}


def odometry_tree():
    return format_tree(ODOMETRY_FORMAT)


rule predict_poses:
    input:
        weights=f"{CKPT}/{{weights}}.pt",
        images=lambda wc: ancient(f"{odometry_tree()['raw_root']}/manifest.json"),
    output:
        f"{POSES}/odom_{{sequence}}.npz",
    params:
        code=method_code("predict_poses"),
        libs=LIBS_TORCH,
        images=lambda wc: odometry_tree()["raw_root"],
        split=lambda wc: f"{odometry_tree()['splits']}/odom/test_files_{wc.sequence}.txt",
    log:
        f"results/logs/predict_poses/{RUN}/{{method}}_seed{{seed}}_{{weights}}_{{sequence}}.log",
    benchmark:
        f"results/benchmarks/predict_poses/{RUN}/{{method}}_seed{{seed}}_{{weights}}_{{sequence}}.tsv"
    threads: 2
    resources:
        gpu=1,
    wildcard_constraints:
        weights="init|final",
        sequence=r"\d\d",
    shell:
        "depthrepro predict-poses --checkpoint {input.weights} --images {params.images} --split-file {params.split} "
        "--dataset {DATASET} --out {output} --threads {threads} > {log} 2>&1"


rule score_poses:
    input:
        poses=lambda wc: list(pose_prediction_files(wc.protocol, wc.method, wc.seed, wc.weights).values()),
        train=f"{CKPT}/train.json",
        dvc="data.dvc",
    output:
        f"{METRICS}/{{protocol}}.json",
    params:
        code=digest("score_poses"),
        libs=LIBS_NUMERIC,
        protocol=lambda wc: json.dumps(POSE_PROTOCOLS[wc.protocol], sort_keys=True),
        poses=lambda wc: " ".join(f"--poses {s}={path}" for s, path in
                                  pose_prediction_files(wc.protocol, wc.method, wc.seed, wc.weights).items()),
        gt_root=lambda wc: odometry_tree()["raw_root"],
    log:
        f"results/logs/score_poses/{RUN}/{{method}}_seed{{seed}}_{{weights}}_{{protocol}}.log",
    wildcard_constraints:
        weights="init|final",
        protocol="|".join(POSE_PROTOCOLS),
    shell:
        "depthrepro score-poses {params.poses} --gt-root {params.gt_root} --protocol {wildcards.protocol} "
        "--dataset {DATASET} --train-record {input.train} --out {output} > {log} 2>&1"

