#!/usr/bin/env python3
"""Re-create the scorecard import fixtures with the real tools.

    python3 -m venv /tmp/fixtures-venv
    /tmp/fixtures-venv/bin/pip install -r requirements.txt
    /tmp/fixtures-venv/bin/python make_fixtures.py            # everything
    /tmp/fixtures-venv/bin/python make_fixtures.py pmml toad  # some sections only

Sections: scorecardpy, optbinning, toad, pmml. Every random choice uses a fixed seed and
every sample size is pinned, so a re-run with the pinned versions in requirements.txt
rewrites byte-identical files. The hand-written PMML models in pmml/*.pmml are inputs
(this script only evaluates them); everything else in the sub-folders is generated.

CSV conventions: UTF-8, header row, "\n" line ends, empty cell = missing value,
floats written with Python's shortest round-trip repr.
"""
import os
import sys

# be gentle on a 2-core machine, and keep BLAS results reproducible
for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import json
import logging
import math
import warnings

warnings.filterwarnings("ignore")
logging.getLogger("cvxpy").setLevel(logging.CRITICAL)

import numpy as np
import pandas as pd

HERE = os.path.dirname(os.path.abspath(__file__))


# ----------------------------------------------------------------------------- helpers

def out_path(section, name):
    d = os.path.join(HERE, section)
    os.makedirs(d, exist_ok=True)
    return os.path.join(d, name)


def write_csv(df, section, name):
    path = out_path(section, name)
    df.to_csv(path, index=False, na_rep="", lineterminator="\n", encoding="utf-8")
    print(f"  wrote {os.path.relpath(path, HERE)} ({len(df)} rows)")


def json_clean(o):
    """NaN -> null (NaN is not JSON); numpy scalars -> Python scalars."""
    if isinstance(o, dict):
        return {str(k): json_clean(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [json_clean(v) for v in o]
    if isinstance(o, np.generic):
        o = o.item()
    if isinstance(o, float) and math.isnan(o):
        return None
    return o


def write_json(obj, section, name):
    path = out_path(section, name)
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        json.dump(json_clean(obj), f, ensure_ascii=False, indent=2)
        f.write("\n")
    print(f"  wrote {os.path.relpath(path, HERE)}")


def categories_to_object(df):
    for c in df.columns:
        if isinstance(df[c].dtype, pd.CategoricalDtype):
            df[c] = df[c].astype(object)
    return df


# ----------------------------------------------------------------------------- scorecardpy

SCP_COLS = [
    "status_of_existing_checking_account",  # categorical, merged categories
    "duration_in_month",                    # numeric, no missing bin
    "purpose",                              # categorical, merged categories
    "credit_amount",                        # numeric, 40 blanked -> "missing" bin
    "age_in_years",                         # numeric, 20 blanked -> "missing" bin (woe 0 -> points -0.0)
    "savings_account_and_bonds",            # categorical, 20 blanked -> "missing" bin, merged categories
]


def make_scorecardpy():
    import scorecardpy as sc
    from sklearn.linear_model import LogisticRegression

    print("scorecardpy", sc.__version__ if hasattr(sc, "__version__") else "")
    dat = categories_to_object(sc.germancredit())
    dt = dat[SCP_COLS].copy()
    dt["creditability"] = (dat["creditability"] == "bad").astype(int)  # 1 = bad

    rng = np.random.RandomState(20240601)
    perm = rng.permutation(len(dt))
    blank_amount, blank_age, blank_savings = perm[:40], perm[40:60], perm[60:80]
    dt["credit_amount"] = dt["credit_amount"].astype(float)
    dt["age_in_years"] = dt["age_in_years"].astype(float)
    dt.loc[blank_amount, "credit_amount"] = np.nan
    dt.loc[blank_age, "age_in_years"] = np.nan
    dt.loc[blank_savings, "savings_account_and_bonds"] = np.nan

    bins = sc.woebin(dt, y="creditability", no_cores=1)
    dt_woe = sc.woebin_ply(dt, bins, no_cores=1)
    y = dt_woe["creditability"]
    X = dt_woe.drop(columns="creditability")
    X = X[[c + "_woe" for c in SCP_COLS]]
    lr = LogisticRegression(max_iter=1000)
    lr.fit(X, y)
    # defaults: points0=600, odds0=1/19, pdo=50, digits=0 (points are rounded)
    card = sc.scorecard(bins, lr, X.columns)

    # (a) long CSV form: concat of the card DataFrames (basepoints row has an empty bin)
    long = pd.concat(card.values(), ignore_index=True)[["variable", "bin", "points"]]
    write_csv(long, "scorecardpy", "card.csv")
    # (b) dict form: {variable: card[variable].to_dict(orient="records")}
    write_json({k: v.to_dict(orient="records") for k, v in card.items()},
               "scorecardpy", "card.json")
    # the woebin tables, for reference (woe, counts, breaks)
    bins_df = pd.concat([bins[c] for c in SCP_COLS], ignore_index=True)
    write_csv(bins_df, "scorecardpy", "woebin.csv")

    # scores on 200 training rows: all 80 rows with a blanked value + 120 others
    others = np.sort(rng.choice(perm[80:], 120, replace=False))
    ids = np.sort(np.concatenate([perm[:80], others]))
    sample = dt.loc[ids, SCP_COLS]
    scores = sc.scorecard_ply(sample, card, only_total_score=False)
    res = pd.concat([sample, scores], axis=1)
    res.insert(0, "id", ids)
    write_csv(res, "scorecardpy", "scores.csv")

    # synthetic edge rows: bin edges, unseen category, missing where the card has no missing bin
    edge = pd.DataFrame([
        # id, status, duration, purpose, amount, age, savings
        [9001, "no checking account", 8, "radio/television", 1400.0, 26.0, "... < 100 DM"],
        [9002, "no checking account", 7, "radio/television", 1399.99, 25.99, "... < 100 DM"],
        [9003, "... < 0 DM", 16, "car (used)", 8000.0, 37.0, "unknown/ no savings account"],
        [9004, "0 <= ... < 200 DM", 44, "education", 7999.5, 36.5, "100 <= ... < 500 DM"],
        [9005, "no checking account", 34, "vacation", 3000.0, 40.0, "... < 100 DM"],
        [9006, "no checking account", np.nan, "radio/television", 3000.0, 40.0, "... < 100 DM"],
        [9007, np.nan, 12, "radio/television", 3000.0, 40.0, "... < 100 DM"],
        [9008, "no checking account", 12, "radio/television", np.nan, np.nan, np.nan],
        [9009, "no checking account", 0, "retraining", 0.0, 0.0, "... >= 1000 DM"],
        [9010, "no checking account", 1000, "others", 1e9, 150.0, "no such savings"],
        # scorecard_ply replaces +-inf by -999 before binning: +inf lands in the lowest bin
        [9011, "no checking account", np.inf, "education", -np.inf, 30.0, "... < 100 DM"],
    ], columns=["id"] + SCP_COLS)
    edge_scores = sc.scorecard_ply(edge[SCP_COLS], card, only_total_score=False)
    write_csv(pd.concat([edge, edge_scores], axis=1), "scorecardpy", "scores_edge.csv")


# ----------------------------------------------------------------------------- optbinning

OB_FEATS = ["mean radius", "mean texture", "worst concave points", "worst smoothness", "area error"]
OB_BAND_EDGES = [0, 70, 80, 90, 100, 120, np.inf]
OB_BAND_LABELS = ["very small", "small", "medium", "large", "very large", "huge"]


def optbinning_data():
    from sklearn.datasets import load_breast_cancer
    d = load_breast_cancer(as_frame=True)
    df = d.frame
    X = df[OB_FEATS].copy()
    # deterministic categorical column so that category-list labels appear
    X["size_band"] = pd.cut(df["mean perimeter"], OB_BAND_EDGES, right=False,
                            labels=OB_BAND_LABELS).astype(object)
    y = df["target"].to_numpy()  # sklearn: 1 = benign, 0 = malignant; optbinning "event" = 1
    rng = np.random.RandomState(7)
    texture_nan = np.sort(rng.choice(len(X), 25, replace=False))
    X.loc[texture_nan, "mean texture"] = np.nan  # -> Missing bin with a count in training
    rest = np.setdiff1d(np.arange(len(X)), texture_nan)
    band_nan = np.sort(rng.choice(rest, 15, replace=False))
    X.loc[band_nan, "size_band"] = np.nan        # -> categorical Missing bin with a count
    return X, y, np.concatenate([texture_nan, band_nan]), rng


def make_optbinning():
    import optbinning
    from optbinning import BinningProcess, Scorecard
    from sklearn.linear_model import LogisticRegression

    print("optbinning", optbinning.__version__)
    X, y, nan_rows, rng = optbinning_data()
    names = list(X.columns)

    def build(scaling_method, params, rounding, metric_missing, show_digits):
        bp = BinningProcess(variable_names=names, categorical_variables=["size_band"])
        card = Scorecard(binning_process=bp,
                         estimator=LogisticRegression(max_iter=1000),
                         scaling_method=scaling_method, scaling_method_params=params,
                         rounding=rounding)
        card.fit(X, y, metric_missing=metric_missing, show_digits=show_digits)
        return card

    # scoring rows: 200 training rows incl. >= 10 with NaN texture, plus NaNs added here
    rest = np.setdiff1d(np.arange(len(X)), nan_rows)
    ids = np.sort(np.concatenate([nan_rows[:12], nan_rows[25:31], rng.choice(rest, 182, replace=False)]))
    S = X.loc[ids].copy()
    pick = rng.choice(ids, 10, replace=False)
    S.loc[pick[:5], "area error"] = np.nan   # NaN never seen in training
    S.loc[pick[5:], "size_band"] = np.nan    # NaN never seen in training

    # edge rows: exact (float32-derived) split values, just below them, unseen categories
    pdo_card = build("pdo_odds", {"pdo": 20, "odds": 50, "scorecard_points": 600},
                     False, "empirical", 8)
    r_split = float(pdo_card.binning_process_.get_binned_variable("mean radius").splits[0])
    t_split = float(pdo_card.binning_process_.get_binned_variable("mean texture").splits[-1])
    E = pd.DataFrame([
        [9001, r_split, t_split, 0.1, 0.12, 20.0, "medium"],
        [9002, np.nextafter(r_split, -np.inf), np.nextafter(t_split, -np.inf), 0.1, 0.12, 20.0, "medium"],
        [9003, round(r_split, 2), round(t_split, 2), 0.1, 0.12, 20.0, "Medium"],
        [9004, 12.0, 20.0, 0.1, 0.12, 20.0, "gigantic"],
        [9005, np.nan, np.nan, np.nan, np.nan, np.nan, np.nan],
        [9006, -1.0, 0.0, -1.0, 0.0, -1.0, "very large"],
        [9007, 1e6, 1e6, 1e6, 1e6, 1e6, "huge"],
    ], columns=["id"] + names)

    variants = [
        # name, scaling, params, rounding, metric_missing
        ("pdo_odds", "pdo_odds", {"pdo": 20, "odds": 50, "scorecard_points": 600}, False, "empirical"),
        ("min_max_rounded", "min_max", {"min": 300, "max": 850}, True, 0),
    ]
    for vname, method, params, rounding, mm in variants:
        card = build(method, params, rounding, mm, 8)
        write_csv(card.table(style="summary"), "optbinning", f"{vname}.summary.csv")
        write_csv(card.table(style="detailed"), "optbinning", f"{vname}.detailed.csv")
        # same card as the default show_digits=2 would print it (lossy bin labels)
        card2 = build(method, params, rounding, mm, 2)
        assert np.array_equal(card2.table()["Points"].to_numpy(), card.table()["Points"].to_numpy())
        write_csv(card2.table(style="summary"), "optbinning", f"{vname}.summary_show_digits_2.csv")
        # exact split points (what the labels are rounded from)
        splits = {}
        for v in names:
            ob = card.binning_process_.get_binned_variable(v)
            if v == "size_band":
                splits[v] = {"dtype": "categorical",
                             "bins": [list(map(str, b)) for b in ob.splits]}
            else:
                splits[v] = {"dtype": "numerical",
                             "splits": [float(s) for s in ob.splits]}
        write_json({"scaling_method": method, "scaling_method_params": params,
                    "rounding": rounding, "metric_missing": mm,
                    "intercept_": float(getattr(card, "intercept_", 0.0) or 0.0),
                    "variables": splits}, "optbinning", f"{vname}.splits.json")
        for tag, frame, row_ids in (("", S, ids), ("_edge", E.drop(columns="id"), E["id"].to_numpy())):
            pts = card.transform(frame)
            pts.columns = [f"points_{c}" for c in pts.columns]
            res = pd.concat([frame.reset_index(drop=True), pts.reset_index(drop=True)], axis=1)
            res["score"] = card.score(frame)
            res.insert(0, "id", row_ids)
            write_csv(res, "optbinning", f"{vname}.scores{tag}.csv")


# ----------------------------------------------------------------------------- toad

TOAD_COLS = ["duration_in_month", "credit_amount", "age_in_years",
             "credit_history", "housing", "purpose"]


def make_toad():
    import scorecardpy as scp
    import toad

    print("toad", toad.VERSION if hasattr(toad, "VERSION") else getattr(toad, "__version__", ""))
    dat = categories_to_object(scp.germancredit())
    X = dat[TOAD_COLS].copy()
    y = (dat["creditability"] == "bad").astype(int).to_numpy()  # 1 = bad
    rng = np.random.RandomState(11)
    idx = rng.permutation(len(X))
    X["credit_amount"] = X["credit_amount"].astype(float)
    X.loc[idx[:50], "credit_amount"] = np.nan   # numeric NaN -> separate "nan" bin
    X.loc[idx[50:90], "housing"] = np.nan       # categorical NaN -> becomes the string "nan"

    c = toad.transform.Combiner()
    c.fit(X, y, method="chi", min_samples=0.05, empty_separate=True)
    # hand-set rule with an "else" group (anything not listed, incl. unseen values)
    c.update({"purpose": [["radio/television"], ["car (used)", "retraining"], ["car (new)"], "else"]})
    binned = c.transform(X)
    t = toad.transform.WOETransformer()
    X_woe = t.fit_transform(binned, y)
    card = toad.ScoreCard(combiner=c, transer=t)  # pdo=60, rate=2, base_odds=35, base_score=750
    card.fit(X_woe, y)

    path = out_path("toad", "card.json")
    card.export(to_json=path)   # toad's own writer (ensure_ascii=False, indent=4)
    print(f"  wrote {os.path.relpath(path, HERE)}")
    with open(path, encoding="utf-8") as f:
        exported = json.load(f)
    card_export = toad.ScoreCard().load(exported)
    # combiner rules too (the bins behind the labels)
    write_json({k: (v.tolist() if hasattr(v, "tolist") else v) for k, v in c.export().items()},
               "toad", "combiner.json")

    def score_frame(frame, row_ids):
        frame = frame.reset_index(drop=True)
        s_fit = card.predict(frame)
        s_exp, sub = card_export.predict(frame, return_sub=True)
        sub = sub[TOAD_COLS].reset_index(drop=True)
        sub.columns = [f"points_{col}" for col in sub.columns]
        res = pd.concat([frame, sub], axis=1)
        res["score"] = s_fit
        res["score_from_export"] = s_exp
        res.insert(0, "id", row_ids)
        return res

    ids = np.sort(np.concatenate([idx[:30], idx[50:70], rng.choice(idx[90:], 150, replace=False)]))
    write_csv(score_frame(X.loc[ids], ids), "toad", "scores.csv")

    E = pd.DataFrame([
        # id, duration, amount, age, credit_history, housing, purpose
        [9001, 9, 3556.0, 26, "existing credits paid back duly till now", "own", "radio/television"],
        [9002, 8, 3555.99, 25, "existing credits paid back duly till now", "rent", "car (new)"],
        [9003, np.nan, np.nan, np.nan, "critical account/ other credits existing (not at this bank)", np.nan, np.nan],
        [9004, 12, 1000.0, 35, "delay in paying off in the past", "castle", "vacation"],
        [9005, 13, 1000.0, 36, np.nan, "for free", "Car (New)"],
        [9006, 45, 1e9, 49, "no such history", "own", "education"],
        [9007, 0, 0.0, 0, "all credits at this bank paid back duly", "rent", "retraining"],
        [9008, 100, -1.0, 120, "no credits taken/ all credits paid back duly", "own", "car (used)"],
    ], columns=["id"] + TOAD_COLS)
    write_csv(score_frame(E.drop(columns="id"), E["id"].to_numpy()), "toad", "scores_edge.csv")


# ----------------------------------------------------------------------------- PMML

N = None  # missing value in the designed rows below

PMML_ROWS = {
    "scorecard_builtins": (
        ["income", "debt", "years", "inquiries"],
        [
            [45000, 12000, 6, 2],
            [250000, 0, 12, 0],
            [8000, 9000, 3, 7],
            [1, 1, 0, 9],
            [120000, 130000, 5, 0],
            [30000, 2500, 10, 3],
            [30000, 2500.5, 2, 4],
            [99999.99, 1499.99, 7.5, 1],
            [60000, N, 4, 2],
            [60000, 5000, 4, N],
            [0, 5000, 4, 2],
            [-100, 5000, 4, 2],
            [50000, 20000, N, 2],
            [N, 5000, 4, 2],
            [15000, 18000, 1, 5],
            [75000, 6000, 2, 6],
            # round(-10 / 4) = round(-2.5) = -2, as Java's Math.round
            [45000, 12000, -10, 2],
        ],
    ),
    "scorecard_transformations": (
        ["income", "debt", "farm_type", "region", "land_mu", "age", "years", "household"],
        [
            [45000, 12000, "grain", "north", 12, 35, 6, 4],
            # income above the scale (asMissingValues), land above the points (asExtremeValues),
            # age above them (asIs extrapolates past 1)
            [250000, 0, "dairy", "south", 60, 70, 12, 5],
            [8000, 9000, "mixed crop", "east", 0, 20, 1, 3],
            # income missing: band mapMissingTo, dti and the scale missing
            [N, 5000, "grain", "north", 5, 40, 3, N],
            # negative income: band defaultValue, scale missing; unknown farm type: defaultValue;
            # years missing: FieldRef mapMissingTo
            [-100, 500, "orchard", "north", 5, 40, N, 2],
            # debt missing: Apply mapMissingTo; farm type, region, land and age missing
            [30000, N, N, N, N, N, 2, 6],
            # every boundary value
            [20000, 4000, "dairy", "south", 10, 60, 5, 1],
            [19999.99, 3999.99, "grain", "south", 9.99, 19, 4.99, 7],
            # a key in another case is not in the table; exactly at the last point
            [60000, 30000, "Grain", "north", 50, 45, 0, 4],
            # round(25.5) = 26
            [100000, 25500, "dairy", "north", 30, 30, 10, 5],
            [0, 0, "grain", "north", 1, 25, 1, 3],
            [200000, 20000, "mixed crop", "south", 25, 50, 3, 2],
            [150000, 5400, "grain", "north", 100, 80, 30, 8],
            # below the first point (asExtremeValues)
            [45000, 4500, "grain", "north", -5, 35, 6, 0],
            # a negative household truncates toward zero (-3 / 2 = -1)
            [45000, 4500, "grain", "north", 12, 35, 6, -3],
        ],
    ),
    "scorecard_points_below": (
        ["age", "income", "residence", "num_cards", "employment_years"],
        [
            # every age attribute
            [N, 2000, "own", 2, 3],
            [18, 2000, "own", 2, 3],
            [20.999, 2000, "own", 2, 3],
            [21, 2000, "own", 2, 3],
            [30, 2000, "own", 2, 3],
            [30.5, 2000, "own", 2, 3],
            [44.9, 2000, "own", 2, 3],
            [45, 2000, "own", 2, 3],
            [60, 2000, "own", 2, 3],
            [60.01, 2000, "own", 2, 3],
            [75, 2000, "own", 2, 3],
            # every income attribute (missing -> replaced by 1500)
            [40, N, "own", 2, 3],
            [40, -50, "own", 2, 3],
            [40, 0, "own", 2, 3],
            [40, 1000, "own", 2, 3],
            [40, 1000.01, "own", 2, 3],
            [40, 2499.99, "own", 2, 3],
            [40, 2500, "own", 2, 3],
            [40, 10000, "own", 2, 3],
            # every residence attribute
            [40, 3000, "rent", 2, 3],
            [40, 3000, N, 2, 3],
            [40, 3000, "board", 2, 3],
            [40, 3000, "parents", 2, 3],
            [40, 3000, "Own", 2, 3],
            # every num_cards attribute
            [40, 3000, "own", 0, 3],
            [40, 3000, "own", N, 3],
            [40, 3000, "own", 1, 3],
            [40, 3000, "own", 3, 3],
            [40, 3000, "own", 4, 3],
            [40, 3000, "own", 10, 3],
            # every employment_years attribute
            [40, 3000, "own", 2, 0.5],
            [40, 3000, "own", 2, 1],
            [40, 3000, "own", 2, 4.99],
            [40, 3000, "own", 2, 5],
            [40, 3000, "own", 2, 20],
            # reason code ranking: tie AGE(10) vs RES(4+6=10, two characteristics summed)
            [N, 3000, "rent", 0, 20],
            # tie AGE(8) vs RES_MISSING(8); INC(5) third
            [25, 2000, N, 2, 20],
            # tie INC(5) vs EMP(5): INC comes first in the file, EMP first alphabetically
            [40, 2000, "own", 2, 0.5],
            # only a zero difference (EMP 0) and negative ones
            [50, 3000, "own", 2, 3],
            # every characteristic below its baseline
            [18, 500, N, 0, 0.5],
            # all missing except employment
            [N, N, N, N, 10],
            # matches no attribute: employment_years missing
            [40, 3000, "own", 2, N],
            [N, N, N, N, N],
        ],
    ),
    "scorecard_points_above": (
        ["debt_ratio", "balance", "credit_limit", "region", "months_on_book", "delinquencies", "product"],
        [
            # debt_score attributes (and / or / surrogate / True)
            [0, 500, 1000, "north", 30, 0, "gold"],
            [0.29, 500, 1000, "north", 30, 0, "gold"],
            [0.3, 500, 1000, "north", 30, 0, "gold"],
            [0.59, 500, 1000, "north", 30, 0, "gold"],
            [0.6, 500, 1000, "north", 30, 0, "gold"],
            [1.5, 500, 1000, "north", 30, 0, "gold"],
            [1.51, 500, 1000, "north", 30, 0, "gold"],
            [-0.1, 500, 1000, "north", 30, 0, "gold"],
            [N, 1000, 2000, "north", 30, 0, "gold"],    # surrogate falls back to balance < 5000
            [N, 8000, 10000, "north", 30, 0, "gold"],   # surrogate second predicate false
            [N, N, 1000, "north", 30, 0, "gold"],       # surrogate unknown -> True
            # region_score attributes (isIn / isNotIn)
            [0.1, 500, 1000, "east", 30, 0, "gold"],
            [0.1, 500, 1000, "south", 30, 0, "gold"],
            [0.1, 500, 1000, "south west", 30, 0, "gold"],
            [0.1, 500, 1000, "west", 30, 0, "gold"],
            [0.1, 500, 1000, "North", 30, 0, "gold"],
            [0.1, 500, 1000, N, 30, 0, "gold"],          # matches no attribute
            # utilisation_score attributes (ComplexPartialScore 40 - 30 * balance / credit_limit)
            [0.1, N, 1000, "north", 30, 0, "gold"],
            [0.1, 500, N, "north", 30, 0, "gold"],
            [0.1, 500, 0, "north", 30, 0, "gold"],
            [0.1, 500, -100, "north", 30, 0, "gold"],
            [0.1, 0, 1000, "north", 30, 0, "gold"],
            [0.1, 1500, 1000, "north", 30, 0, "gold"],
            [0.1, 333, 1000, "north", 30, 0, "gold"],
            [0.1, 1, 3, "north", 30, 0, "gold"],
            # tenure_score attributes (ComplexPartialScore, xor, nested and/or, True)
            [0.1, 500, 1000, "north", 6, 0, "gold"],
            [0.1, 500, 1000, "north", 6, 2, "gold"],
            [0.1, 500, 1000, "north", 0, 5, "gold"],
            [0.1, 500, 1000, "north", 6, N, "gold"],     # expression with a missing field
            [0.1, 500, 1000, "north", 12, 0, "gold"],
            [0.1, 500, 1000, "north", 12, 1, "gold"],
            [0.1, 500, 1000, "north", 23, 0, "gold"],
            [0.1, 500, 1000, "north", 24, 0, "gold"],
            [0.1, 500, 1000, "north", 30, 2, "gold"],
            [0.1, 500, 1000, "north", 30, 7, "gold"],
            [0.1, 500, 1000, "north", N, 0, "gold"],
            [0.1, 500, 1000, "north", 30, N, "gold"],
            # product_score attributes
            [0.1, 500, 1000, "north", 30, 0, "silver"],
            [0.1, 500, 1000, "north", 30, 0, "bronze"],
            [0.1, 500, 1000, "north", 30, 0, N],
            # reason code ranking: ties and zero differences
            [0.45, 2500, 5000, "south", 30, 2, "silver"],
            [0.7, 200, 1000, "west", 12, 0, "bronze"],
            [-1, 2000, 1000, "west", 30, 7, "bronze"],
        ],
    ),
    "scorecard_no_reason_codes": (
        ["farm_type", "hectares", "years_farming"],
        [
            ["dairy", 100, 10],
            ["mixed crop", 100, 10],
            ["orchard", 100, 10],
            [N, 100, 10],
            ["unknown", 100, 10],
            ["vineyard", 100, 10],
            ["Dairy", 100, 10],
            ["dairy", N, 10],
            ["dairy", 0, 10],
            ["dairy", 10.4999, 10],
            ["dairy", 10.5, 10],
            ["dairy", 249.99, 10],
            ["dairy", 250, 10],
            ["dairy", 1e6, 10],
            ["dairy", 100, N],
            ["dairy", 100, 0],
            ["dairy", 100, 5],
            ["dairy", 100, 6],
            ["dairy", 100, 40],
            [N, N, N],
        ],
    ),
    "scorecard_derived_ratio": (
        ["debt", "income", "age"],
        [
            [100, 1000, 25],
            [199.99, 1000, 30],
            [200, 1000, 45],
            [499, 1000, 29.9],
            [500, 1000, 60],
            [5000, 1000, 40],
            [N, 1000, 40],
            [100, N, 40],
            [100, 0, 40],
            [0, 0, 40],
            [100, 1000, N],
        ],
    ),
}


def _clean_inputs(row):
    return {k: (None if v is None or (isinstance(v, float) and math.isnan(v)) else v)
            for k, v in row.items()}


def _first_line(e):
    s = str(e).strip()
    for line in s.splitlines():
        line = line.strip()
        if line and not line.startswith("An error occurred while calling"):
            return line.lstrip(": ").strip()
    return s


def _result_row(rid, inputs, out, err):
    rec = {"id": rid}
    rec.update(inputs)
    out = out or {}
    score = out.get("final_score", out.get("score", out.get("predicted_score")))
    if score is None and out:
        # no Output element: evaluators name the value after the target field
        score = next((v for k, v in out.items() if not str(k).startswith("reason_code")), None)
    rec["score"] = score
    for i in (1, 2, 3):
        rec[f"reason_code_{i}"] = out.get(f"reason_code_{i}")
    rec["error"] = err
    return rec


def _records_frame(records):
    """Keep each cell's Python type (ints stay "2", not "2.0")."""
    cols = list(records[0])
    return pd.DataFrame({c: pd.Series([r[c] for r in records], dtype=object) for c in cols})


def make_pmml():
    import jpmml_evaluator
    import pypmml
    from jpmml_evaluator import make_evaluator
    from pypmml import Model

    print("pypmml", pypmml.__version__, "/ jpmml_evaluator", jpmml_evaluator.__version__)
    d = os.path.join(HERE, "pmml")

    # both evaluators must at least load the refusal fixtures (they are valid PMML)
    for f in ("refuse_regression_model.pmml",):
        Model.fromFile(os.path.join(d, f))
        make_evaluator(os.path.join(d, f), backend="jpype").verify()

    for name, (cols, rows) in PMML_ROWS.items():
        path = os.path.join(d, name + ".pmml")
        pm = Model.fromFile(path)
        jm = make_evaluator(path, backend="jpype").verify()
        res_py, res_j = [], []
        for i, vals in enumerate(rows, start=1):
            inputs = dict(zip(cols, vals))
            args = _clean_inputs(inputs)
            try:
                out, err = pm.predict(args), None
            except Exception as e:  # noqa: BLE001 - record whatever the evaluator does
                out, err = None, _first_line(e)
            res_py.append(_result_row(i, inputs, out, err))
            try:
                out = jm.evaluate(args)
                out, err = {k: v for k, v in out.items() if k != "risk_score" or "final_score" not in out}, None
            except Exception as e:  # noqa: BLE001
                out, err = None, _first_line(e)
            res_j.append(_result_row(i, inputs, out, err))
        write_csv(_records_frame(res_py), "pmml", f"{name}.pypmml.csv")
        write_csv(_records_frame(res_j), "pmml", f"{name}.jpmml.csv")


# ----------------------------------------------------------------------------- main

SECTIONS = {
    "scorecardpy": make_scorecardpy,
    "optbinning": make_optbinning,
    "toad": make_toad,
    "pmml": make_pmml,
}

if __name__ == "__main__":
    wanted = sys.argv[1:] or list(SECTIONS)
    for s in wanted:
        print(f"== {s}")
        SECTIONS[s]()
