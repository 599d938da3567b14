"""Per-family experiment lists of SUITE_V1 (see runners/suite.py)."""

# The token families' transformers keep their residual stream in bf16 under autocast on a GPU
# (ModelConfig.residual; on a CPU nothing autocasts and it is fp32). On an H100 it made the
# compiled stacked step 11.6% faster at d 256 L 4 and 8.7% at d 512 L 8, and retraining the groups
# family with it left all 93 rows the same (README, "Performance"). The regression family's float
# path keeps fp32: there it moved its one-seed depth-sweep cells (63 of 434 rows regressed).
TOKEN_RESIDUAL = "bf16"
