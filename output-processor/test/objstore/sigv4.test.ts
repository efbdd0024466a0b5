import { describe, expect, it } from "vitest";
import { sigv4 } from "@drover/output-processor/objstore";

// AWS's published example values ("Signature Calculations for the Authorization Header:
// Transferring Payload in a Single Chunk", example GET Object; and the SigV4 test suite's
// get-vanilla-query-order-key-case).
const EXAMPLE_KEY = "AKIAIOSFODNN7EXAMPLE";
const EXAMPLE_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

describe("SigV4 known answers", () => {
  it("signs AWS's GET Object example exactly", () => {
    const headers = {
      Host: "examplebucket.s3.amazonaws.com",
      Range: "bytes=0-9",
      "x-amz-content-sha256": sigv4.EMPTY_SHA256,
      "x-amz-date": "20130524T000000Z",
    };
    const input = {
      method: "GET",
      path: "/test.txt",
      query: [] as [string, string][],
      headers,
      payloadHash: sigv4.EMPTY_SHA256,
    };
    const canonical = sigv4.canonicalRequest(input);
    expect(canonical).toBe(
      [
        "GET",
        "/test.txt",
        "",
        "host:examplebucket.s3.amazonaws.com",
        "range:bytes=0-9",
        `x-amz-content-sha256:${sigv4.EMPTY_SHA256}`,
        "x-amz-date:20130524T000000Z",
        "",
        "host;range;x-amz-content-sha256;x-amz-date",
        sigv4.EMPTY_SHA256,
      ].join("\n"),
    );
    const toSign = sigv4.stringToSign(
      "20130524T000000Z",
      sigv4.credentialScope("20130524", "us-east-1"),
      canonical,
    );
    expect(toSign.split("\n")).toEqual([
      "AWS4-HMAC-SHA256",
      "20130524T000000Z",
      "20130524/us-east-1/s3/aws4_request",
      "7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972",
    ]);
    expect(
      sigv4.authorizationHeader({
        ...input,
        accessKeyId: EXAMPLE_KEY,
        secretAccessKey: EXAMPLE_SECRET,
        region: "us-east-1",
        amzDate: "20130524T000000Z",
      }),
    ).toBe(
      "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41",
    );
  });

  it("sorts query parameters as the SigV4 test suite expects", () => {
    const canonical = sigv4.canonicalRequest({
      method: "GET",
      path: "/",
      query: [
        ["Param2", "value2"],
        ["Param1", "value1"],
      ],
      headers: { Host: "example.amazonaws.com", "X-Amz-Date": "20150830T123600Z" },
      payloadHash: sigv4.sha256Hex(""),
    });
    expect(canonical.split("\n")[2]).toBe("Param1=value1&Param2=value2");
    const key = sigv4.signingKey(
      "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
      "20150830",
      "us-east-1",
      "service",
    );
    const toSign = sigv4.stringToSign(
      "20150830T123600Z",
      sigv4.credentialScope("20150830", "us-east-1", "service"),
      canonical,
    );
    expect(sigv4.signature(key, toSign)).toBe(
      "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500",
    );
  });

  it("encodes keys once, byte by byte, keeping / in paths only", () => {
    expect(sigv4.uriEncode("a b/c+d$e~f_ü", false)).toBe("a%20b/c%2Bd%24e~f_%C3%BC");
    expect(sigv4.uriEncode("logs/x=1")).toBe("logs%2Fx%3D1");
  });

  it("parses its own Authorization header", () => {
    const a = sigv4.parseAuthorization(
      "AWS4-HMAC-SHA256 Credential=AKID/20130524/eu-west-1/s3/aws4_request, SignedHeaders=host;x-amz-date, Signature=abc",
    );
    expect(a).toEqual({
      accessKeyId: "AKID",
      date: "20130524",
      region: "eu-west-1",
      service: "s3",
      terminator: "aws4_request",
      signedHeaders: ["host", "x-amz-date"],
      signature: "abc",
    });
    expect(sigv4.parseAuthorization("AWS AKID:sig")).toBeNull();
  });
});
