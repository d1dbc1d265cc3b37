# The casegate set-up of the scripts beside it, sourced in an empty working directory with
# `repo` set: the configuration and policy of `cargo bench --bench cache_hit` (the example
# report as JSON through a grant that drops one column and masks the other Customer.* ones,
# cached 1 h), free ports in `sandbox`, `gateway` and `admin`, an RS256 token in `auth` (a
# header line) and the request in `url`.
printf 'sandbox-api-key' > api-key
printf 'sandbox-secret-key-not-for-production' > secret-key
cp "$repo/tests/fixtures/keys/rsa-public.pem" caller-public.pem
cat > policy.toml <<'P'
[[grant]]
name = "bench"
reports = [10800]
who = { sub = "bench-caller" }
[grant.columns]
drop = ["Customer.DateOfBirth"]
mask = ["Customer.*"]
[grant.limits]
cache_ttl = "1h"
P
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
sandbox=$(port); gateway=$(port); admin=$(port)
cat > casegate.toml <<C
policy = "policy.toml"
[server]
listen = "127.0.0.1:$gateway"
[upstream]
environment = "uat"
account = "sandbox"
base_url = "http://127.0.0.1:$sandbox"
[upstream.credential]
api_key = { file = "api-key" }
secret_key = { file = "secret-key" }
[[auth.issuers]]
issuer = "https://idp.bench.casegate"
audiences = ["casegate"]
algorithms = ["RS256"]
pem_files = [{ path = "caller-public.pem" }]
[logging]
level = "warn"
[cache]
ttl = "1h"
[admin]
listen = "127.0.0.1:$admin"
C
b64u() { openssl base64 -A | tr '+/' '-_' | tr -d '='; }
now=$(date +%s)
head=$(printf '{"typ":"JWT","alg":"RS256"}' | b64u)
claims=$(printf '{"iss":"https://idp.bench.casegate","aud":"casegate","sub":"bench-caller","iat":%d,"exp":%d}' "$now" $((now + 3600)) | b64u)
sig=$(printf '%s.%s' "$head" "$claims" | openssl dgst -sha256 -sign "$repo/tests/fixtures/keys/rsa-private.pem" | b64u)
auth="Authorization: Bearer $head.$claims.$sig"
url="http://127.0.0.1:$gateway/getreport?ReportId=10800&Format=json"
