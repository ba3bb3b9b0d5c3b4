"""The gateway's HTTP/1.1 client, shared by the provider adapters and the image fetcher."""

from visiongate.transport.body import Body, body_length
from visiongate.transport.client import HttpClient, Response
from visiongate.transport.connection import BodyTooLarge, TransportError

__all__ = ["Body", "BodyTooLarge", "HttpClient", "Response", "TransportError", "body_length"]
