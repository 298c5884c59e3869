"""Storage codec for raw records.

Raw records are kept byte-for-byte but compressed: a one-byte tag, then the
payload.  ``0x00``: the UTF-8 bytes as is; ``0x01``: raw DEFLATE (level 1) with the
preset dictionary :data:`ZDICT_V1`, written by ISA-L (the ``isal`` package,
about twice as fast as zlib here) when it is installed, else by zlib; either
way stdlib zlib decodes it.  The dictionary holds the keys that audit
records repeat, so even a 1 KB record compresses well on its own.  Never edit
``ZDICT_V1``: add ``ZDICT_V2`` and a new tag instead, or old indexes break.
"""

from __future__ import annotations

import types
import zlib

_deflate: types.ModuleType
try:  # ISA-L's deflate: the same stream format, ~2x faster than zlib for 1-2 KB records
    from isal import isal_zlib

    _deflate = isal_zlib
except ImportError:  # pragma: no cover - isal is a dependency; stay correct without it
    _deflate = zlib

ZDICT_V1 = (
    b'"impersonatedUser":{"username":"objectRef":{"resource":"namespace":"name":"apiVersion":'
    b'"responseStatus":{"metadata":{},"code":200},"requestReceivedTimestamp":"stageTimestamp":'
    b'"annotations":{"authorization.k8s.io/decision":"allow","authorization.k8s.io/reason":'
    b'"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"stage":'
    b'"ResponseComplete","requestURI":"/api/v1/namespaces/","verb":"get","user":{"username":'
    b'"system:serviceaccount:kube-system:","groups":["system:serviceaccounts","system:authenticated"]'
    b',"sourceIPs":["userAgent":"protoPayload":{"@type":"type.googleapis.com/google.cloud.audit.AuditLog"'
    b',"authenticationInfo":{"principalEmail":"authorizationInfo":[{"permission":"granted":true'
    b',"methodName":"serviceName":"resourceName":"requestMetadata":{"callerIp":"callerSuppliedUserAgent":'
    b'"logName":"projects/","insertId":"severity":"NOTICE","receiveTimestamp":"timestamp":'
    b'"EventID":"EventRecordID":"SubjectUserName":"SubjectDomainName":"TargetUserName":"LogonType":'
    b'"Channel":"Security","Hostname":"Provider":"Microsoft-Windows-Security-Auditing"'
    b'"caller":"operationName":"resultType":"Success","callerIpAddress":"category":"Administrative"'
    b',"resourceId":"/subscriptions/","correlationId":"properties":{"claims":{'
    b'"requestParameters":null,"responseElements":null,"additionalEventData":{"readOnly":true,'
    b'"resources":[{"accountId":"type":"AWS::S3::Object","ARN":"arn:aws:s3:::"'
    b',"eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":"eventCategory":"Management"'
    b',"tlsDetails":{"tlsVersion":"TLSv1.2","cipherSuite":"ECDHE-RSA-AES128-GCM-SHA256","clientProvidedHostHeader":'
    b'"eventVersion":"1.08","userIdentity":{"type":"IAMUser","principalId":"arn":"arn:aws:iam::'
    b'"accountId":"accessKeyId":"AKIA","userName":"sessionContext":{"sessionIssuer":{"type":"Role",'
    b'"attributes":{"creationDate":"mfaAuthenticated":"false"}},"webIdFederationData":{}'
    b',"eventTime":"eventSource":"s3.amazonaws.com","eventName":"awsRegion":"us-east-1",'
    b'"sourceIPAddress":"userAgent":"aws-cli/2.13.0 Python/3.11 Linux/5.10","errorCode":"AccessDenied",'
    b'"errorMessage":"User: arn:aws:sts::assumed-role/ is not authorized to perform: '
    b'"requestID":"eventID":"readOnly":false,"eventType":"AwsApiCall"'
)

_TAG_PLAIN = 0
_TAG_ZLIB1 = 1
_MIN_COMPRESS = 96


def encode(text_or_bytes: str | bytes) -> bytes:
    """Encode a raw record for the ``events.raw`` column."""
    data = text_or_bytes.encode("utf-8", "surrogateescape") if isinstance(text_or_bytes, str) else text_or_bytes
    if len(data) < _MIN_COMPRESS:
        return bytes((_TAG_PLAIN,)) + data
    comp = _deflate.compressobj(1, zlib.DEFLATED, -15, 8, zlib.Z_DEFAULT_STRATEGY, ZDICT_V1)
    out = comp.compress(data) + comp.flush()
    if len(out) >= len(data):
        return bytes((_TAG_PLAIN,)) + data
    return bytes((_TAG_ZLIB1,)) + out


def decode_bytes(blob: bytes) -> bytes:
    """The raw record's original bytes."""
    if not blob:
        return b""
    tag = blob[0]
    if tag == _TAG_PLAIN:
        return bytes(blob[1:])
    if tag == _TAG_ZLIB1:
        d = zlib.decompressobj(-15, ZDICT_V1)
        return d.decompress(blob[1:]) + d.flush()
    raise ValueError(f"unknown raw codec tag {tag}")


def decode(blob: bytes) -> str:
    """The raw record as text (invalid UTF-8 is kept as surrogate escapes)."""
    return decode_bytes(blob).decode("utf-8", "surrogateescape")
