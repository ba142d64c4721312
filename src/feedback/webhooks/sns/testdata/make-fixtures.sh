#!/usr/bin/env bash
# Regenerates the SNS test fixtures. Test-only keys: they sign nothing real.
#   sns-signing-key.pem / sns-signing-cert.pem  RSA-2048, the "SNS" signer (self-signed)
#   other-rsa-cert.pem  another RSA certificate, whose key signed nothing here
#   bounce-v1.json   an SNS Notification carrying ses-bounce.json, SignatureVersion 1
#                    (SHA1withRSA, signed here by openssl: ring cannot make SHA-1 signatures)
#   tls-ca.pem, tls-server-cert.pem, tls-server-key.pem  a CA and a certificate for
#                    sns.us-east-1.amazonaws.com, for the HTTPS fetcher's test
set -euo pipefail
cd "$(dirname "$0")"
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out sns-signing-key.pem
openssl req -x509 -new -key sns-signing-key.pem -sha256 -days 36500 -subj "/CN=sns.amazonaws.com" \
  -addext "basicConstraints=critical,CA:FALSE" -out sns-signing-cert.pem
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out other-key.pem
openssl req -x509 -new -key other-key.pem -sha256 -days 36500 -subj "/CN=not-sns.example" \
  -addext "basicConstraints=critical,CA:FALSE" -out other-rsa-cert.pem
rm other-key.pem

python3 - <<'PY'
import base64, json, subprocess
message = open("ses-bounce.json").read().strip()
env = {
    "Type": "Notification",
    "MessageId": "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324",
    "TopicArn": "arn:aws:sns:us-east-1:123456789012:ses-feedback",
    "Message": message,
    "Timestamp": "2023-11-14T22:13:22.000Z",
    "SignatureVersion": "1",
    "SigningCertURL": "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-0000000000000000000000000000test.pem",
    "UnsubscribeURL": "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe&SubscriptionArn=arn:aws:sns:us-east-1:123456789012:ses-feedback:0000",
}
canonical = "".join(f"{k}\n{env[k]}\n" for k in ["Message", "MessageId", "Timestamp", "TopicArn", "Type"])
sig = subprocess.run(["openssl", "dgst", "-sha1", "-sign", "sns-signing-key.pem"],
                     input=canonical.encode(), capture_output=True, check=True).stdout
env["Signature"] = base64.b64encode(sig).decode()
json.dump(env, open("bounce-v1.json", "w"), indent=2)
PY

openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out tls-ca-key.pem
openssl req -x509 -new -key tls-ca-key.pem -sha256 -days 36500 -subj "/CN=Herald test CA" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign" -out tls-ca.pem
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out tls-server-key.pem
openssl req -new -key tls-server-key.pem -subj "/CN=sns.us-east-1.amazonaws.com" -out tls-server.csr
printf 'basicConstraints=critical,CA:FALSE\nsubjectAltName=DNS:sns.us-east-1.amazonaws.com\nextendedKeyUsage=serverAuth\n' > tls-server.ext
openssl x509 -req -in tls-server.csr -CA tls-ca.pem -CAkey tls-ca-key.pem -CAcreateserial -sha256 -days 36500 \
  -extfile tls-server.ext -out tls-server-cert.pem
rm -f tls-server.csr tls-server.ext tls-ca-key.pem tls-ca.srl
