#!/usr/bin/env bash
# `make run`: start the gateway on 127.0.0.1:8000 with SQLite and the offline local/ocr
# model, and print a key plus a ready-to-paste request. The key is random per checkout
# and kept in .venv/dev-key; VISIONGATE_API_KEYS from the environment wins.
set -euo pipefail
cd "$(dirname "$0")/.."
KEY_FILE=.venv/dev-key
if [ -z "${VISIONGATE_API_KEYS:-}" ]; then
  if [ ! -s "$KEY_FILE" ]; then
    .venv/bin/python -c 'import secrets; print("vg-dev-" + secrets.token_urlsafe(24))' > "$KEY_FILE"
    chmod 600 "$KEY_FILE"
  fi
  export VISIONGATE_API_KEYS="$(cat "$KEY_FILE")"
fi
KEY="${VISIONGATE_API_KEYS%%,*}"
HOST="${VISIONGATE_HOST:-127.0.0.1}"
PORT="${VISIONGATE_PORT:-8000}"
cat <<MSG

visiongate on http://$HOST:$PORT  (playground: /playground, models: GET /v1/models, docs: /docs)
API key: $KEY

Try it (offline OCR model, an image from a base64 data URL):
  IMG=\$(.venv/bin/python -c 'import sys; sys.path.insert(0, "tests"); from support.images import text_image, data_url; print(data_url(text_image(["HELLO VISIONGATE"]), "image/png"))')
  curl -s http://$HOST:$PORT/v1/chat/completions \\
    -H "Authorization: Bearer $KEY" -H "Content-Type: application/json" \\
    -d "{\"model\": \"local/ocr\", \"messages\": [{\"role\": \"user\", \"content\": [{\"type\": \"text\", \"text\": \"What does it say?\"}, {\"type\": \"image_url\", \"image_url\": {\"url\": \"\$IMG\"}}]}]}"

MSG
exec .venv/bin/visiongate serve --host "$HOST" --port "$PORT"
