#!/bin/sh
# Prints fresh secrets for docker-compose.yml's .env: `sh deploy/make-secrets.sh >> .env`.
set -eu
r() { head -c "$1" /dev/urandom | base64 | tr -d '\n=' | tr '+/' '-_'; }
echo "POSTGRES_PASSWORD=$(r 24)"
echo "DROVER_MASTER_KEY=$(head -c 32 /dev/urandom | base64)"
echo "DROVER_OUTPUT_TOKEN_SECRET=$(r 32)"
echo "DROVER_OUTPUT_READ_TOKEN=$(r 32)"
echo "DROVER_PUSHER_APP_KEY=drover-$(r 6)"
echo "DROVER_PUSHER_APP_SECRET=$(r 32)"
echo "DROVER_ARTIFACTS_SIGNING_KEY=$(r 32)"
echo "DROVER_VM_SERVICE_TOKEN=$(r 32)"
