# Shared helpers for the project's scripts: paths, progress lines and failing with the step's name.
# shellcheck shell=bash
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LOCAL="$ROOT/.local"
mkdir -p "$LOCAL/logs"

VENV="$ROOT/.venv"
MINISTACK_VENV="$LOCAL/ministack-venv"
SAM_VENV="$LOCAL/sam-venv"
CHECKOV_VENV="$LOCAL/checkov-venv"
LOCUST_VENV="$LOCAL/locust-venv"
STACK_NAME="${STACK_NAME:-hydroponics-local}"
STAGE="${STAGE:-local}"
MINISTACK_PORT="${MINISTACK_PORT:-4566}"
export AWS_ENDPOINT_URL="${AWS_ENDPOINT_URL:-http://127.0.0.1:$MINISTACK_PORT}"
export AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-test}"
export AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-test}"
export AWS_DEFAULT_REGION="${AWS_DEFAULT_REGION:-us-east-1}"
export SAM_CLI_TELEMETRY=0

_step_started=0
CURRENT_STEP=""

step() {  # step "what is happening" : prints a numbered progress line with elapsed time
  CURRENT_STEP="$1"
  _step_started=$SECONDS
  printf '\033[1m==> %s\033[0m\n' "$1"
}

done_step() {
  printf '    ok (%ss)\n' "$((SECONDS - _step_started))"
}

fail() {
  printf '\033[31mFAILED during "%s": %s\033[0m\n' "${CURRENT_STEP:-set-up}" "$1" >&2
  exit 1
}

trap 'rc=$?; [ $rc -ne 0 ] && [ -n "$CURRENT_STEP" ] && printf "\033[31mstopped: step \"%s\" failed (exit %s); see .local/logs/\033[0m\n" "$CURRENT_STEP" "$rc" >&2' EXIT

# A Python 3.12 interpreter (the Lambda runtime): on PATH, from pyenv, or from Debian/uv if present.
find_python312() {
  local candidate
  for candidate in "${PYTHON312:-}" "$(command -v python3.12 2>/dev/null || true)" /root/.pyenv/versions/3.12*/bin/python3.12 "$HOME"/.pyenv/versions/3.12*/bin/python3.12 /usr/bin/python3.12 /usr/local/bin/python3.12; do
    [ -n "$candidate" ] && [ -x "$candidate" ] || continue
    # resolve pyenv shims to the real interpreter (sam build needs a real python3.12)
    candidate="$("$candidate" -c 'import sys; print(sys.executable)' 2>/dev/null)" || continue
    "$candidate" -c 'import sys; assert sys.version_info[:2] == (3, 12)' 2>/dev/null && { echo "$candidate"; return 0; }
  done
  return 1
}

load_env_file() {  # load_env_file FILE : exports KEY=VALUE lines
  [ -f "$1" ] || return 0
  set -a
  # shellcheck disable=SC1090
  . "$1"
  set +a
}

ministack_up() {
  curl -fsS "http://127.0.0.1:$MINISTACK_PORT/_localstack/health" >/dev/null 2>&1
}
