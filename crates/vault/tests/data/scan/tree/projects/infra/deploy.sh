#!/bin/sh
set -eu
export PGPASSWORD='fn61t0XGCByb'
export API_TOKEN="$(vault read -field=token secret/api)"
docker login -u bot -p "$REGISTRY_PASSWORD" registry.example.com
curl -fsS -H "Authorization: token dTGNTrCtgEMrITtO6lbSE5RnllShVFcQHc80k0Mw" https://ci.example.com/api/deploy
