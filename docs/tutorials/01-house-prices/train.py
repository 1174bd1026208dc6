"""Predict house prices with a small fully connected network (SCOW AI tutorial 1).

Data: train.csv of the Kaggle competition "House Prices - Advanced Regression
Techniques". Download it yourself from Kaggle (the competition rules do not allow
us to redistribute it) and put it next to this script, or pass --data PATH.

Run:  python train.py --data train.csv
Help: python train.py --help

The defaults (Adam lr 0.001, weight decay 0.01) learn. The upstream tutorial's settings,
--lr 0.1 --weight-decay 5, are kept as an exercise: with them the network learns nothing
and only predicts the average price (underfitting).
"""

import argparse
import math
import sys
import time
import zipfile
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # draw into a file; compute nodes have no display
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from sklearn.impute import SimpleImputer
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from torch import nn

KAGGLE_URL = "https://www.kaggle.com/competitions/house-prices-advanced-regression-techniques/data"

# The 81 columns of Kaggle's train.csv, in file order: Id, 79 features, SalePrice.
KAGGLE_COLUMNS = [
    "Id", "MSSubClass", "MSZoning", "LotFrontage", "LotArea", "Street", "Alley",
    "LotShape", "LandContour", "Utilities", "LotConfig", "LandSlope", "Neighborhood",
    "Condition1", "Condition2", "BldgType", "HouseStyle", "OverallQual", "OverallCond",
    "YearBuilt", "YearRemodAdd", "RoofStyle", "RoofMatl", "Exterior1st", "Exterior2nd",
    "MasVnrType", "MasVnrArea", "ExterQual", "ExterCond", "Foundation", "BsmtQual",
    "BsmtCond", "BsmtExposure", "BsmtFinType1", "BsmtFinSF1", "BsmtFinType2",
    "BsmtFinSF2", "BsmtUnfSF", "TotalBsmtSF", "Heating", "HeatingQC", "CentralAir",
    "Electrical", "1stFlrSF", "2ndFlrSF", "LowQualFinSF", "GrLivArea", "BsmtFullBath",
    "BsmtHalfBath", "FullBath", "HalfBath", "BedroomAbvGr", "KitchenAbvGr",
    "KitchenQual", "TotRmsAbvGrd", "Functional", "Fireplaces", "FireplaceQu",
    "GarageType", "GarageYrBlt", "GarageFinish", "GarageCars", "GarageArea",
    "GarageQual", "GarageCond", "PavedDrive", "WoodDeckSF", "OpenPorchSF",
    "EnclosedPorch", "3SsnPorch", "ScreenPorch", "PoolArea", "PoolQC", "Fence",
    "MiscFeature", "MiscVal", "MoSold", "YrSold", "SaleType", "SaleCondition",
    "SalePrice",
]

# The 36 numeric features we use. Id is only a row number and SalePrice is the
# target, so neither is a feature; the 43 text (categorical) columns are skipped.
NUMERIC_FEATURES = [
    "MSSubClass", "LotFrontage", "LotArea", "OverallQual", "OverallCond", "YearBuilt",
    "YearRemodAdd", "MasVnrArea", "BsmtFinSF1", "BsmtFinSF2", "BsmtUnfSF",
    "TotalBsmtSF", "1stFlrSF", "2ndFlrSF", "LowQualFinSF", "GrLivArea", "BsmtFullBath",
    "BsmtHalfBath", "FullBath", "HalfBath", "BedroomAbvGr", "KitchenAbvGr",
    "TotRmsAbvGrd", "Fireplaces", "GarageYrBlt", "GarageCars", "GarageArea",
    "WoodDeckSF", "OpenPorchSF", "EnclosedPorch", "3SsnPorch", "ScreenPorch",
    "PoolArea", "MiscVal", "MoSold", "YrSold",
]

KAGGLE_ROWS = 1460


class DataError(Exception):
    """A problem with the CSV file that the user can fix; printed without a traceback."""


def parse_args():
    parser = argparse.ArgumentParser(description="House-price regression with a small MLP (SCOW AI tutorial 1).")
    parser.add_argument("--data", default="train.csv", help="path to Kaggle's train.csv (default: %(default)s)")
    parser.add_argument("--epochs", type=int, default=100, help="number of epochs (default: %(default)s)")
    parser.add_argument("--lr", type=float, default=0.001, help="Adam learning rate (default: %(default)s)")
    parser.add_argument("--weight-decay", type=float, default=0.01,
                        help="Adam weight decay, an L2 penalty (default: %(default)s)")
    parser.add_argument("--batch-size", type=int, default=32, help="mini-batch size (default: %(default)s)")
    parser.add_argument("--plot", default="learning_curve.png",
                        help="where to save the learning-curve PNG (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=42, help="random seed for the split and the model (default: %(default)s)")
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto",
                        help="auto = cuda if a GPU is visible, else cpu (default: %(default)s)")
    args = parser.parse_args()
    if args.epochs < 1:
        parser.error("--epochs must be at least 1")
    if args.batch_size < 1:
        parser.error("--batch-size must be at least 1")
    if args.lr <= 0:
        parser.error("--lr must be positive")
    if args.weight_decay < 0:
        parser.error("--weight-decay must not be negative")
    return args


def load_csv(path):
    """Read train.csv and check that it really is Kaggle's file."""
    path = Path(path)
    if not path.exists():
        raise DataError(
            f"找不到数据文件 {path}。\n"
            f"请打开 Kaggle 比赛页面 {KAGGLE_URL} ，登录并接受比赛规则，\n"
            "下载 train.csv，再用 SCOW 的「文件管理」上传到 train.py 所在的目录（或用 --data 指定路径）。\n"
            f"Data file not found: {path}.\n"
            f"Open the Kaggle competition page {KAGGLE_URL}, sign in and accept the competition rules,\n"
            "download train.csv, then upload it with SCOW's 文件管理 (file manager) into the folder\n"
            "that holds train.py (or give its path with --data)."
        )
    if not path.is_file():
        raise DataError(f"{path} 不是文件（可能是目录）。/ {path} is not a file (perhaps a folder).")
    if zipfile.is_zipfile(path):
        raise DataError(
            f"{path} 是 zip 压缩包（Kaggle 命令行下载的是整个比赛的压缩包），不是 train.csv。先解压出 train.csv：\n"
            f"    unzip -o {path} train.csv\n"
            "再用 --data train.csv 运行。\n"
            f"{path} is a zip archive (the Kaggle command line downloads the whole competition as one zip), "
            "not train.csv. Unpack train.csv first:\n"
            f"    unzip -o {path} train.csv\n"
            "then run with --data train.csv."
        )
    try:
        df = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise DataError(
            f"无法把 {path} 读成 CSV：{err}\n请重新从 Kaggle 下载 train.csv。\n"
            f"Cannot read {path} as CSV: {err}\nDownload train.csv from Kaggle again."
        ) from None

    columns = [str(c) for c in df.columns]
    missing = [c for c in KAGGLE_COLUMNS if c not in columns]
    unexpected = [c for c in columns if c not in KAGGLE_COLUMNS]
    if missing or unexpected:
        lines = [f"{path} 的列与 Kaggle 的 train.csv 不一致（应有 {len(KAGGLE_COLUMNS)} 列，实际 {len(columns)} 列）。",
                 f"The columns of {path} do not match Kaggle's train.csv "
                 f"(expected {len(KAGGLE_COLUMNS)} columns, found {len(columns)})."]
        if missing:
            lines.append("缺少的列 / missing columns: " + ", ".join(missing))
        if unexpected:
            lines.append("多出的列 / unexpected columns: " + ", ".join(unexpected))
        if missing == ["SalePrice"] and not unexpected:
            lines.append("这很像 test.csv（它没有房价）。请使用 train.csv。\n"
                         "This looks like test.csv, which has no prices. Use train.csv.")
        raise DataError("\n".join(lines))

    not_numeric = [c for c in NUMERIC_FEATURES + ["SalePrice"] if not pd.api.types.is_numeric_dtype(df[c])]
    if not_numeric:
        raise DataError(
            "这些列应当是数字，却含有文字 / these columns should hold numbers but contain text: "
            + ", ".join(not_numeric)
        )
    prices = df["SalePrice"]
    if prices.isna().any() or (prices <= 0).any():
        raise DataError("SalePrice 列必须全部是正数 / every SalePrice must be a positive number.")
    if len(df) < 10:
        raise DataError(f"{path} 只有 {len(df)} 行数据，太少了 / {path} has only {len(df)} rows: too few.")
    if len(df) != KAGGLE_ROWS:
        print(f"Note: Kaggle's train.csv has {KAGGLE_ROWS} rows, this file has {len(df)}. "
              "If you did not mean to use a subset, upload the file again.")
    return df


def prepare_data(df, seed):
    """Numeric features only; mean imputation and standardisation fitted on the training part.

    Returns the two parts and the names of the features used: a column without a single value in the
    training part has no mean to fill its gaps with, so it is left out (and the reader is told).
    """
    features = df[NUMERIC_FEATURES].to_numpy(dtype=np.float64)
    log_price = np.log(df["SalePrice"].to_numpy(dtype=np.float64))
    x_train, x_valid, y_train, y_valid = train_test_split(
        features, log_price, test_size=0.2, random_state=seed)

    empty = np.isnan(x_train).all(axis=0)
    if empty.any():
        names = [name for name, gone in zip(NUMERIC_FEATURES, empty) if gone]
        if empty.all():
            raise DataError("所有数字列都是空的 / every numeric column is empty: download train.csv again.")
        print(f"Note: {', '.join(names)} {'has' if len(names) == 1 else 'have'} no value in the training part "
              f"(only empty cells), so {'it is' if len(names) == 1 else 'they are'} left out. Kaggle's train.csv "
              "has values in every numeric column: if you did not change the file, download it again.")
        x_train, x_valid = x_train[:, ~empty], x_valid[:, ~empty]
    used = [name for name, gone in zip(NUMERIC_FEATURES, empty) if not gone]

    # Fill each missing value with the column mean, then scale each column to
    # mean 0 and standard deviation 1. Both steps learn their numbers from the
    # training part only, so the validation part stays unseen.
    preprocess = make_pipeline(SimpleImputer(strategy="mean"), StandardScaler())
    x_train = preprocess.fit_transform(x_train)
    x_valid = preprocess.transform(x_valid)
    return x_train, x_valid, y_train, y_valid, used


def choose_device(name):
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    elif name == "cuda" and not torch.cuda.is_available():
        raise DataError(
            "你要求使用 GPU（--device cuda），但 PyTorch 看不到 GPU。请在申请了 GPU 的交互式应用或作业里运行，\n"
            "用 nvidia-smi 检查，或改用 --device cpu。\n"
            "You asked for --device cuda, but PyTorch sees no GPU. Run inside an app or job that holds a GPU,\n"
            "check with nvidia-smi, or use --device cpu."
        )
    device = torch.device(name)
    if device.type == "cuda":
        print(f"Device: cuda ({torch.cuda.get_device_name(device)})")
    else:
        print("Device: cpu")
    return device


def log_rmse(model, x, log_price, y_mean, y_std):
    """RMSE between predicted and true log prices: the competition's score."""
    model.eval()
    with torch.no_grad():
        predicted = model(x).squeeze(1) * y_std + y_mean
        return torch.sqrt(torch.mean((predicted - log_price) ** 2)).item()


def save_plot(train_curve, valid_curve, baseline, path):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    epochs = range(1, len(train_curve) + 1)
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(epochs, train_curve, label="train")
    ax.plot(epochs, valid_curve, label="validation")
    ax.axhline(baseline, color="gray", linestyle="--", label="baseline (average price)")
    ax.set_xlabel("epoch")
    ax.set_ylabel("log-RMSE")
    ax.set_title("House prices: learning curve")
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main():
    args = parse_args()
    try:
        df = load_csv(args.data)
        device = choose_device(args.device)
    except DataError as err:
        print(f"Error: {err}", file=sys.stderr)
        return 2

    torch.manual_seed(args.seed)
    try:
        x_train, x_valid, y_train, y_valid, used = prepare_data(df, args.seed)
    except DataError as err:
        print(f"Error: {err}", file=sys.stderr)
        return 2
    print(f"Data: {len(df)} rows, {len(used)} numeric features; "
          f"{len(x_train)} for training, {len(x_valid)} for validation")

    # The network learns the log price shifted and scaled to mean 0, std 1 (the
    # same treatment the features get); we turn its output back into a log price.
    y_mean, y_std = float(y_train.mean()), float(y_train.std())
    # The simplest possible "model": every house costs the average training price.
    # A trained network must score clearly below this number to be of any use.
    baseline = float(np.sqrt(np.mean((y_valid - y_mean) ** 2)))
    print(f"Baseline (average training price for every house): valid log-RMSE {baseline:.4f}")

    def to_tensor(a):
        return torch.as_tensor(a, dtype=torch.float32, device=device)

    # The whole data set is a few hundred KB, so it lives on the device at once.
    x_train_t, x_valid_t = to_tensor(x_train), to_tensor(x_valid)
    y_train_t, y_valid_t = to_tensor(y_train), to_tensor(y_valid)
    target_t = (y_train_t - y_mean) / y_std

    model = nn.Sequential(
        nn.Linear(x_train.shape[1], 128),
        nn.ReLU(),
        nn.Linear(128, 1),
    ).to(device)
    loss_fn = nn.MSELoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    shuffler = torch.Generator().manual_seed(args.seed)

    print(f"Training: {args.epochs} epochs, batch size {args.batch_size}, "
          f"Adam lr {args.lr}, weight decay {args.weight_decay}")
    report_every = max(1, args.epochs // 10)
    train_curve, valid_curve = [], []
    start = time.perf_counter()
    for epoch in range(1, args.epochs + 1):
        model.train()
        order = torch.randperm(len(x_train_t), generator=shuffler).to(device)
        for first in range(0, len(order), args.batch_size):
            batch = order[first:first + args.batch_size]
            optimizer.zero_grad()
            loss = loss_fn(model(x_train_t[batch]).squeeze(1), target_t[batch])
            loss.backward()
            optimizer.step()

        train_curve.append(log_rmse(model, x_train_t, y_train_t, y_mean, y_std))
        valid_curve.append(log_rmse(model, x_valid_t, y_valid_t, y_mean, y_std))
        if epoch == 1 or epoch % report_every == 0 or epoch == args.epochs:
            print(f"epoch {epoch:4d}/{args.epochs}  train log-RMSE {train_curve[-1]:.4f}  "
                  f"valid log-RMSE {valid_curve[-1]:.4f}")
    seconds = time.perf_counter() - start

    if not math.isfinite(valid_curve[-1]):
        print("Error: the validation score is not a finite number; training diverged. "
              "Try a smaller --lr.", file=sys.stderr)
        return 1

    save_plot(train_curve, valid_curve, baseline, args.plot)
    print(f"Learning curve saved to {args.plot}")
    print(f"Training took {seconds:.1f} s on {device.type}")
    print(f"Final validation log-RMSE: {valid_curve[-1]:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
