"""Tutorial 1 (house prices): the training script, its CSV checks and the batch script.

The tests never use Kaggle's data (it may not be redistributed): they write a small
CSV with the same 81-column layout and random but plausible values.
"""

import math
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd

FOLDER = Path(__file__).resolve().parents[1] / "docs" / "tutorials" / "01-house-prices"
TRAIN = FOLDER / "train.py"
JOB = FOLDER / "job.sh"

# Kaggle's train.csv header, written out here independently of train.py so that a
# typo in the script's column list makes the tests fail.
HEADER = (
    "Id,MSSubClass,MSZoning,LotFrontage,LotArea,Street,Alley,LotShape,LandContour,Utilities,"
    "LotConfig,LandSlope,Neighborhood,Condition1,Condition2,BldgType,HouseStyle,OverallQual,"
    "OverallCond,YearBuilt,YearRemodAdd,RoofStyle,RoofMatl,Exterior1st,Exterior2nd,MasVnrType,"
    "MasVnrArea,ExterQual,ExterCond,Foundation,BsmtQual,BsmtCond,BsmtExposure,BsmtFinType1,"
    "BsmtFinSF1,BsmtFinType2,BsmtFinSF2,BsmtUnfSF,TotalBsmtSF,Heating,HeatingQC,CentralAir,"
    "Electrical,1stFlrSF,2ndFlrSF,LowQualFinSF,GrLivArea,BsmtFullBath,BsmtHalfBath,FullBath,"
    "HalfBath,BedroomAbvGr,KitchenAbvGr,KitchenQual,TotRmsAbvGrd,Functional,Fireplaces,"
    "FireplaceQu,GarageType,GarageYrBlt,GarageFinish,GarageCars,GarageArea,GarageQual,"
    "GarageCond,PavedDrive,WoodDeckSF,OpenPorchSF,EnclosedPorch,3SsnPorch,ScreenPorch,PoolArea,"
    "PoolQC,Fence,MiscFeature,MiscVal,MoSold,YrSold,SaleType,SaleCondition,SalePrice"
).split(",")

# Numeric columns with (low, high) bounds for random integers.
NUMERIC = {
    "MSSubClass": (20, 190), "LotFrontage": (21, 313), "LotArea": (1300, 215000),
    "OverallQual": (1, 10), "OverallCond": (1, 9), "YearBuilt": (1872, 2010),
    "YearRemodAdd": (1950, 2010), "MasVnrArea": (0, 1600), "BsmtFinSF1": (0, 2000),
    "BsmtFinSF2": (0, 1400), "BsmtUnfSF": (0, 2300), "TotalBsmtSF": (0, 3000),
    "1stFlrSF": (334, 4700), "2ndFlrSF": (0, 2000), "LowQualFinSF": (0, 570),
    "GrLivArea": (334, 5600), "BsmtFullBath": (0, 3), "BsmtHalfBath": (0, 2),
    "FullBath": (0, 3), "HalfBath": (0, 2), "BedroomAbvGr": (0, 8), "KitchenAbvGr": (0, 3),
    "TotRmsAbvGrd": (2, 14), "Fireplaces": (0, 3), "GarageYrBlt": (1900, 2010),
    "GarageCars": (0, 4), "GarageArea": (0, 1400), "WoodDeckSF": (0, 850),
    "OpenPorchSF": (0, 550), "EnclosedPorch": (0, 550), "3SsnPorch": (0, 500),
    "ScreenPorch": (0, 480), "PoolArea": (0, 740), "MiscVal": (0, 15500), "MoSold": (1, 12),
    "YrSold": (2006, 2010),
}
# Columns that have gaps in Kaggle's file (empty cells, read as NaN).
WITH_GAPS = ["LotFrontage", "MasVnrArea", "GarageYrBlt", "Alley", "PoolQC", "Fence",
             "FireplaceQu", "BsmtQual", "GarageType", "MiscFeature"]
QUALITY = ["Ex", "Gd", "TA", "Fa", "Po"]


def fake_train_csv(path, rows=120, seed=0, drop=(), add=()):
    """Write a CSV with Kaggle's train.csv layout and random values; return the path."""
    rng = np.random.default_rng(seed)
    data = {}
    for column in HEADER:
        if column == "Id":
            data[column] = np.arange(1, rows + 1)
        elif column == "SalePrice":
            continue
        elif column in NUMERIC:
            low, high = NUMERIC[column]
            data[column] = rng.integers(low, high + 1, size=rows).astype(float)
        elif column.endswith(("Qual", "Cond", "QC", "Qu")):
            data[column] = rng.choice(QUALITY, size=rows)
        else:
            data[column] = rng.choice([f"{column[:3]}{k}" for k in range(4)], size=rows)
    df = pd.DataFrame(data)
    # Plausible prices: log price depends on quality and living area, plus noise.
    log_price = (10.5 + 0.12 * df["OverallQual"] + 0.0003 * df["GrLivArea"]
                 + rng.normal(0, 0.15, size=rows))
    df["SalePrice"] = np.round(np.exp(log_price)).astype(int)
    for column in WITH_GAPS:
        df.loc[rng.random(rows) < 0.2, column] = np.nan
    df = df[HEADER]
    df = df.drop(columns=list(drop))
    for column in add:
        df[column] = 1
    df.to_csv(path, index=False)
    return path


def run_train(tmp_path, *args):
    env = dict(os.environ)
    env["HOME"] = str(tmp_path / "home")
    env["MPLCONFIGDIR"] = str(tmp_path / "mpl")
    env["CUDA_VISIBLE_DEVICES"] = ""
    (tmp_path / "home").mkdir(exist_ok=True)
    return subprocess.run(
        [sys.executable, str(TRAIN), *args],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300,
    )


def test_fake_csv_has_kaggles_layout(tmp_path):
    df = pd.read_csv(fake_train_csv(tmp_path / "train.csv"))
    assert df.shape == (120, 81)
    assert list(df.columns) == HEADER
    assert df.isna().any().any()


def test_script_knows_the_kaggle_columns():
    """train.py's own column list must be Kaggle's header, in order (checked without running it)."""
    source = TRAIN.read_text(encoding="utf-8")
    block = re.search(r"KAGGLE_COLUMNS = \[(.*?)\]", source, re.S).group(1)
    assert re.findall(r'"([^"]+)"', block) == HEADER


def test_training_runs_and_saves_a_plot(tmp_path):
    csv = fake_train_csv(tmp_path / "train.csv")
    plot = tmp_path / "out" / "curve.png"
    result = run_train(tmp_path, "--data", str(csv), "--epochs", "3", "--device", "cpu",
                       "--plot", str(plot), "--seed", "1")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "Traceback" not in output
    assert "Device: cpu" in result.stdout
    assert "Data: 120 rows, 36 numeric features; 96 for training, 24 for validation" in result.stdout
    assert len(re.findall(r"^epoch +\d+/3 ", result.stdout, re.M)) == 3
    score = re.search(r"Final validation log-RMSE: (\S+)", result.stdout)
    assert score, output
    assert math.isfinite(float(score.group(1)))
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert plot.stat().st_size > 5000


def test_missing_saleprice_is_a_clear_error(tmp_path):
    csv = fake_train_csv(tmp_path / "test.csv", drop=["SalePrice"])
    result = run_train(tmp_path, "--data", str(csv), "--epochs", "1", "--plot", str(tmp_path / "p.png"))
    output = result.stdout + result.stderr
    assert result.returncode == 2, output
    assert "Traceback" not in output
    assert "missing columns: SalePrice" in output
    assert "test.csv" in output
    assert not (tmp_path / "p.png").exists()


def test_wrong_layout_names_missing_and_unexpected_columns(tmp_path):
    csv = fake_train_csv(tmp_path / "train.csv", drop=["GrLivArea", "PoolQC"], add=["price"])
    result = run_train(tmp_path, "--data", str(csv), "--epochs", "1")
    output = result.stdout + result.stderr
    assert result.returncode == 2, output
    assert "Traceback" not in output
    assert "missing columns: GrLivArea, PoolQC" in output
    assert "unexpected columns: price" in output


def test_missing_file_says_where_to_get_it(tmp_path):
    result = run_train(tmp_path, "--data", str(tmp_path / "nowhere" / "train.csv"), "--epochs", "1")
    output = result.stdout + result.stderr
    assert result.returncode == 2, output
    assert "Traceback" not in output
    assert "kaggle.com/competitions/house-prices-advanced-regression-techniques" in output
    assert "文件管理" in output
    assert "train.csv" in output


def test_cuda_requested_without_gpu_is_a_clear_error(tmp_path):
    csv = fake_train_csv(tmp_path / "train.csv")
    result = run_train(tmp_path, "--data", str(csv), "--epochs", "1", "--device", "cuda")
    output = result.stdout + result.stderr
    assert result.returncode == 2, output
    assert "Traceback" not in output
    assert "nvidia-smi" in output


def test_job_script_directives():
    lines = JOB.read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith("#!")
    directives = [line for line in lines if line.startswith("#CBATCH")]  # field count: tests/test_code.py
    options = " ".join(directives)
    assert "--gres=gpu:1" in options
    assert re.search(r"(-N|--nodes)[ =]1\b", options)
    assert re.search(r"(-t|--time)[ =]\S+", options)
    assert re.search(r"-o[ =]\S*%j", options) or re.search(r"--output[ =]\S*%j", options)
    assert re.search(r"(-J|--job-name)[ =]\S+", options)
    assert re.search(r"(-p|--partition)[ =]\S+", options)
    assert "train.py" in JOB.read_text(encoding="utf-8")
    # Directives must come before the first command, or the scheduler ignores them.
    first_command = next(i for i, line in enumerate(lines[1:], 1)
                         if line.strip() and not line.startswith("#"))
    assert all(lines.index(d) < first_command for d in directives)


def test_requirements_name_what_train_py_imports():
    # exact == pins of every requirements.txt: tests/test_code.py
    lines = [line.strip() for line in (FOLDER / "requirements.txt").read_text().splitlines()
             if line.strip() and not line.startswith("#")]
    names = {line.split("==")[0].lower() for line in lines}
    assert {"torch", "numpy", "pandas", "scikit-learn", "matplotlib"} <= names


def test_no_kaggle_csv_in_the_folder():
    assert not list(FOLDER.rglob("*.csv"))
