// The Executor's TypeScript client: the messages and the service descriptor generated from
// proto/executor/v1/executor.proto (protoc-gen-es), google.rpc's error details, and a client
// over Connect's gRPC transport for Node.
import { type Client, type Interceptor, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";

import { ExecutorService } from "./gen/executor/v1/executor_pb.js";
import {
  type BadRequest_FieldViolation,
  BadRequestSchema,
  type ErrorInfo,
  ErrorInfoSchema,
} from "./gen/google/rpc/error_details_pb.js";

export * from "./gen/executor/v1/executor_pb.js";
export * from "./gen/google/rpc/error_details_pb.js";

export type ExecutorClient = Client<typeof ExecutorService>;

export interface ExecutorClientOptions {
  /** Sent as `authorization: Bearer <token>`, for servers started with --auth-token-file. */
  token?: string;
  /** Deadline of each call that sets none of its own. */
  defaultTimeoutMs?: number;
  /** "http" (default) or "https" (TLS, trusting the system's CAs unless `tls` says more). */
  scheme?: "http" | "https";
  /** TLS ("https"), with PEM data: `ca` the CA that signed the server's certificate (else the
   * system's CAs), `cert` and `key` the client's certificate chain and key for mutual TLS. */
  tls?: ExecutorTlsOptions;
}

export interface ExecutorTlsOptions {
  ca?: string | Buffer;
  cert?: string | Buffer;
  key?: string | Buffer;
}

/** A client of executor.v1.ExecutorService at `address` ("host:port"), over gRPC on HTTP/2. */
export function createExecutorClient(
  address: string,
  options: ExecutorClientOptions = {},
): ExecutorClient {
  const interceptors: Interceptor[] = [];
  const token = options.token;
  if (token) {
    interceptors.push((next) => (request) => {
      request.header.set("authorization", `Bearer ${token}`);
      return next(request);
    });
  }
  const tls = options.tls;
  if (tls && (tls.cert === undefined) !== (tls.key === undefined)) {
    throw new Error("tls.cert and tls.key go together");
  }
  const transport = createGrpcTransport({
    baseUrl: `${tls ? "https" : (options.scheme ?? "http")}://${address}`,
    interceptors,
    defaultTimeoutMs: options.defaultTimeoutMs,
    nodeOptions: tls ? { ca: tls.ca, cert: tls.cert, key: tls.key } : undefined,
  });
  return createClient(ExecutorService, transport);
}

/** The google.rpc.BadRequest field violations of a failed call (none for other errors). */
export function fieldViolations(error: unknown): BadRequest_FieldViolation[] {
  return ConnectError.from(error)
    .findDetails(BadRequestSchema)
    .flatMap((badRequest) => badRequest.fieldViolations);
}

/** The google.rpc.ErrorInfo of a failed call: its stable `reason`, `domain` and `metadata`. */
export function errorInfo(error: unknown): ErrorInfo | undefined {
  return ConnectError.from(error).findDetails(ErrorInfoSchema)[0];
}
