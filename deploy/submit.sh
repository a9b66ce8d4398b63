#!/usr/bin/env bash
# Submit the frcrn job to a running Ray cluster (`ray job submit` underneath).
#
#   export RAY_ADDRESS=http://127.0.0.1:8265        # the cluster's dashboard / Jobs API
#   export RAY_AUTH_TOKEN_PATH=/path/to/token       # when the cluster uses token auth
#   export FRCRN_STORAGE_OPTIONS='{"endpoint_url": "https://minio.internal:9000"}'   # optional
#   deploy/submit.sh configs/s3_cluster.yaml input.uri='s3://corpus/manifests/*.parquet' \
#       output.uri=s3://corpus-clean/v1/
#   deploy/submit.sh --mode image configs/s3_cluster.yaml        # cluster runs the project image
#   deploy/submit.sh --dry-run configs/local.yaml                # show what would be sent
#
# Options and modes: deploy/submit.sh --help, or the docstring of deploy/submit.py.
# Secrets are read from the environment only, never from arguments. PYTHON selects the
# interpreter (default: python3); it must have the same Ray version as the cluster (2.60.0).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
exec "${PYTHON:-python3}" "$here/submit.py" "$@"
