import { ApplicationServiceClient } from '@chirpstack/chirpstack-api/api/application_grpc_pb';
import { DeviceServiceClient } from '@chirpstack/chirpstack-api/api/device_grpc_pb';
import * as grpc from '@grpc/grpc-js';
import { storableText } from '../../common/storable-text';
import { NetworkError } from '../http-client';

/** Per call: ChirpStack answers API calls from its database, well within this. */
const CALL_TIMEOUT_MS = 10_000;

/**
 * gRPC status → the HTTP status NetworkError speaks, so the sync and downlink queues' retry rules
 * apply (SPEC §6): UNAVAILABLE, DEADLINE_EXCEEDED and RESOURCE_EXHAUSTED are retried, the rest not.
 * ChirpStack answers every database error with INTERNAL (a duplicate, an unknown device profile,
 * malformed hex): that is no outage, and retrying it gives the same answer.
 */
const HTTP_STATUS: Partial<Record<grpc.status, number>> = {
  [grpc.status.UNAVAILABLE]: 503,
  [grpc.status.DEADLINE_EXCEEDED]: 504,
  [grpc.status.RESOURCE_EXHAUSTED]: 429,
  [grpc.status.INVALID_ARGUMENT]: 400,
  [grpc.status.UNAUTHENTICATED]: 401,
  [grpc.status.PERMISSION_DENIED]: 403,
  [grpc.status.NOT_FOUND]: 404,
  [grpc.status.ALREADY_EXISTS]: 409,
  [grpc.status.FAILED_PRECONDITION]: 412,
  [grpc.status.INTERNAL]: 422,
  [grpc.status.UNIMPLEMENTED]: 501,
};

/** A ChirpStack API error, with its gRPC status code beside the HTTP one the queues read. */
export class ChirpstackApiError extends NetworkError {
  constructor(
    readonly code: grpc.status,
    message: string,
  ) {
    // UNKNOWN and the like come from proxies and broken transports more than from ChirpStack: retried.
    super(code in HTTP_STATUS ? (HTTP_STATUS[code] as number) : 502, message);
    this.name = 'ChirpstackApiError';
  }

  /** INTERNAL "duplicate key" (PostgreSQL) / "UNIQUE constraint failed" (SQLite builds): it exists already. */
  get isDuplicate(): boolean {
    return this.code === grpc.status.INTERNAL && /duplicate key|UNIQUE constraint/i.test(this.message);
  }

  get isNotFound(): boolean {
    return this.code === grpc.status.NOT_FOUND;
  }
}

type Callback<Response> = (error: grpc.ServiceError | null, response: Response) => void;
type UnaryMethod<Request, Response> = (request: Request, metadata: grpc.Metadata, options: Partial<grpc.CallOptions>, callback: Callback<Response>) => unknown;

/**
 * ChirpStack's gRPC API with the package's own clients: the API token as `authorization: Bearer`
 * metadata, TLS when `apiUrl` is https (a TLS-terminating proxy: ChirpStack itself serves h2c).
 */
export class ChirpstackApiClient {
  readonly devices: DeviceServiceClient;
  readonly applications: ApplicationServiceClient;
  private readonly metadata = new grpc.Metadata();

  constructor(apiUrl: string, apiToken: string) {
    const url = new URL(apiUrl);
    const address = url.port ? url.host : `${url.hostname}:${url.protocol === 'https:' ? 443 : 80}`;
    const credentials = url.protocol === 'https:' ? grpc.credentials.createSsl() : grpc.credentials.createInsecure();
    this.devices = new DeviceServiceClient(address, credentials);
    this.applications = new ApplicationServiceClient(address, credentials, { channelOverride: this.devices.getChannel() });
    this.metadata.set('authorization', `Bearer ${apiToken}`);
  }

  /** One unary call; every failure is a ChirpstackApiError naming the method. */
  call<Request, Response>(client: grpc.Client, method: UnaryMethod<Request, Response>, name: string, request: Request): Promise<NonNullable<Response>> {
    return new Promise((resolve, reject) => {
      method.call(client, request, this.metadata, { deadline: Date.now() + CALL_TIMEOUT_MS }, (error, response) => {
        if (!error) return resolve(response as NonNullable<Response>);
        const details = storableText(error.details || grpc.status[error.code] || 'error');
        reject(new ChirpstackApiError(error.code, `${name}: ${grpc.status[error.code] ?? error.code}: ${details}`));
      });
    });
  }

  close(): void {
    this.devices.close();
  }
}

/** The connection settings the API needs. */
export interface ChirpstackApiSettings {
  apiUrl: string;
  apiToken?: string;
  applicationId: string;
  deviceProfileId?: string;
}

/** Clients are kept, one per API URL and token: a gRPC channel is a connection worth reusing. */
const MAX_CLIENTS = 32;
const clients = new Map<string, ChirpstackApiClient>();

export function chirpstackClient(settings: ChirpstackApiSettings, purpose: string): ChirpstackApiClient {
  if (!settings.apiToken) throw new NetworkError(400, `settings.apiToken (a ChirpStack API key) is required to ${purpose}`);
  const key = `${settings.apiUrl}\n${settings.apiToken}`;
  let client = clients.get(key);
  if (!client) {
    client = new ChirpstackApiClient(settings.apiUrl, settings.apiToken);
    clients.set(key, client);
    if (clients.size > MAX_CLIENTS) {
      const [oldest, evicted] = clients.entries().next().value as [string, ChirpstackApiClient];
      clients.delete(oldest);
      evicted.close();
    }
  }
  return client;
}
