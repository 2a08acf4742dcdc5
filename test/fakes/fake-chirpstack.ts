/**
 * A fake ChirpStack v4 API: a real gRPC server built from the service definitions of
 * `@chirpstack/chirpstack-api`, answering as ChirpStack does (reference chirpstack-v4.md §6): a
 * duplicate is INTERNAL "duplicate key value violates unique constraint", malformed hex is
 * INTERNAL, a missing object is NOT_FOUND (admin key) or UNAUTHENTICATED with an empty message
 * (tenant key), Update replaces every field, List pages with limit/offset. Event builders for the
 * integration bodies are in chirpstack-events.ts.
 */
import * as appPb from '@chirpstack/chirpstack-api/api/application_pb';
import { ApplicationServiceService } from '@chirpstack/chirpstack-api/api/application_grpc_pb';
import * as pb from '@chirpstack/chirpstack-api/api/device_pb';
import { DeviceServiceService } from '@chirpstack/chirpstack-api/api/device_grpc_pb';
import * as grpc from '@grpc/grpc-js';
import { Empty } from 'google-protobuf/google/protobuf/empty_pb';
import { randomUUID } from 'node:crypto';

export const CHIRPSTACK_API_TOKEN = 'eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.fake-chirpstack-key';

export interface FakeDevice {
  devEui: string;
  name: string;
  description: string;
  applicationId: string;
  deviceProfileId: string;
  isDisabled: boolean;
  joinEui: string;
  tags: Record<string, string>;
  variables: Record<string, string>;
  keys?: { nwkKey: string; appKey: string };
  activation?: { devAddr: string; appSKey: string; nwkSEncKey: string; sNwkSIntKey: string; fNwkSIntKey: string };
  queue: Array<{ id: string; fPort: number; confirmed: boolean; data: string }>;
}

export interface FakeHttpIntegration {
  headers: Record<string, string>;
  encoding: number;
  eventEndpointUrl: string;
}

export interface RecordedCall {
  method: string;
  authorization: string | undefined;
  request: Record<string, unknown>;
}

interface FailRule {
  method: string;
  code: grpc.status;
  details: string;
  times: number;
}

type Call = grpc.ServerUnaryCall<{ toObject(): Record<string, unknown> }, unknown>;

const HEX = /^[0-9a-fA-F]*$/;

/** ChirpStack's hex decoder's words (lrwn, the `hex` crate) for a malformed EUI or key: answered INTERNAL. */
function hexProblem(value: string, bytes: number): string | null {
  if (!HEX.test(value)) return `Invalid character '${[...value].find((c) => !/[0-9a-fA-F]/.test(c))}' at position ${[...value].findIndex((c) => !/[0-9a-fA-F]/.test(c))}`;
  if (value.length % 2) return 'Odd number of digits';
  if (value.length !== bytes * 2) return 'Invalid string length';
  return null;
}

class GrpcFailure extends Error {
  constructor(
    readonly code: grpc.status,
    readonly details: string,
  ) {
    super(details);
  }
}

export class FakeChirpstack {
  readonly devices = new Map<string, FakeDevice>();
  readonly httpIntegrations = new Map<string, FakeHttpIntegration>();
  readonly applications = new Set<string>();
  readonly deviceProfiles = new Set<string>();
  readonly calls: RecordedCall[] = [];
  /** Runs before Enqueue answers (e.g. to deliver the item's txack first, as a class C device can). */
  beforeEnqueueAnswer?: (queueItemId: string, devEui: string) => Promise<void>;
  /** With a tenant key ChirpStack answers UNAUTHENTICATED (empty message) for any object it cannot see, missing ones too. */
  tenantKey = false;
  private readonly failures: FailRule[] = [];
  private server?: grpc.Server;
  port = 0;

  constructor(
    readonly applicationId = randomUUID(),
    readonly deviceProfileId = randomUUID(),
  ) {
    this.applications.add(applicationId);
    this.deviceProfiles.add(deviceProfileId);
  }

  private tls = false;

  get apiUrl(): string {
    return this.tls ? `https://localhost:${this.port}` : `http://127.0.0.1:${this.port}`;
  }

  /** With `tls`, served over TLS as behind a TLS-terminating proxy (ChirpStack itself speaks h2c). */
  async start(tls?: { key: Buffer; cert: Buffer }): Promise<this> {
    this.tls = tls !== undefined;
    const credentials = tls ? grpc.ServerCredentials.createSsl(null, [{ private_key: tls.key, cert_chain: tls.cert }]) : grpc.ServerCredentials.createInsecure();
    const server = new grpc.Server();
    server.addService(DeviceServiceService, this.deviceService() as unknown as grpc.UntypedServiceImplementation);
    server.addService(ApplicationServiceService, this.applicationService() as unknown as grpc.UntypedServiceImplementation);
    this.port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', credentials, (error, port) => (error ? reject(error) : resolve(port))),
    );
    this.server = server;
    return this;
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => (this.server ? this.server.tryShutdown(() => resolve()) : resolve()));
  }

  /** The next `times` calls of `method` (e.g. `CreateKeys`) fail with this status. */
  failNext(method: string, code: grpc.status, details: string, times = 1): void {
    this.failures.push({ method, code, details, times });
  }

  callsOf(method: string): RecordedCall[] {
    return this.calls.filter((call) => call.method === method);
  }

  /** A device as if made in ChirpStack's console. */
  addDevice(devEui: string, fields: Partial<FakeDevice> = {}): FakeDevice {
    const device: FakeDevice = {
      devEui: devEui.toLowerCase(),
      name: devEui.toLowerCase(),
      description: '',
      applicationId: this.applicationId,
      deviceProfileId: this.deviceProfileId,
      isDisabled: false,
      joinEui: '',
      tags: {},
      variables: {},
      queue: [],
      ...fields,
    };
    this.devices.set(device.devEui, device);
    return device;
  }

  private handle<Response>(method: string, work: (request: Record<string, unknown>, call: Call) => Response | Promise<Response>) {
    return async (call: Call, callback: grpc.sendUnaryData<Response>) => {
      const authorization = call.metadata.get('authorization')[0]?.toString();
      const request = call.request.toObject();
      this.calls.push({ method, authorization, request });
      try {
        if (!authorization) throw new GrpcFailure(grpc.status.UNAUTHENTICATED, 'no authorization provided');
        if (!authorization.startsWith('Bearer ')) throw new GrpcFailure(grpc.status.UNAUTHENTICATED, 'invalid authorization header');
        if (authorization !== `Bearer ${CHIRPSTACK_API_TOKEN}`) throw new GrpcFailure(grpc.status.UNAUTHENTICATED, 'InvalidSignature');
        const rule = this.failures.find((f) => f.method === method && f.times > 0);
        if (rule) {
          rule.times--;
          throw new GrpcFailure(rule.code, rule.details);
        }
        callback(null, await work(request, call));
      } catch (error) {
        if (!(error instanceof GrpcFailure)) throw error;
        callback({ code: error.code, details: error.details, metadata: new grpc.Metadata() } as grpc.ServiceError, null);
      }
    };
  }

  private missing(id: string): GrpcFailure {
    return this.tenantKey ? new GrpcFailure(grpc.status.UNAUTHENTICATED, '') : new GrpcFailure(grpc.status.NOT_FOUND, `Object does not exist (id: ${id})`);
  }

  private device(devEui: unknown): FakeDevice {
    const eui = String(devEui ?? '');
    const problem = hexProblem(eui, 8);
    if (problem) throw new GrpcFailure(grpc.status.INTERNAL, problem);
    const device = this.devices.get(eui.toLowerCase());
    if (!device) throw this.missing(eui.toLowerCase());
    return device;
  }

  private deviceService() {
    const empty = () => new Empty();
    return {
      create: this.handle('Create', (request) => {
        const d = request.device as pb.Device.AsObject | undefined;
        if (!d) throw new GrpcFailure(grpc.status.INVALID_ARGUMENT, 'device is missing');
        const problem = hexProblem(d.devEui, 8) ?? (d.joinEui ? hexProblem(d.joinEui, 8) : null);
        if (problem) throw new GrpcFailure(grpc.status.INTERNAL, problem);
        if (!d.name) throw new GrpcFailure(grpc.status.INVALID_ARGUMENT, 'Validation error: name is not set');
        if (!this.applications.has(d.applicationId)) throw new GrpcFailure(grpc.status.INVALID_ARGUMENT, 'invalid length: expected length 32 for simple format, found 0');
        if (!this.deviceProfiles.has(d.deviceProfileId)) {
          throw new GrpcFailure(grpc.status.INTERNAL, 'insert or update on table "device" violates foreign key constraint "fk_device_device_profile"');
        }
        if (this.devices.has(d.devEui.toLowerCase())) throw new GrpcFailure(grpc.status.INTERNAL, 'duplicate key value violates unique constraint "device_pkey"');
        this.devices.set(d.devEui.toLowerCase(), {
          devEui: d.devEui.toLowerCase(),
          name: d.name,
          description: d.description,
          applicationId: d.applicationId,
          deviceProfileId: d.deviceProfileId,
          isDisabled: d.isDisabled,
          joinEui: d.joinEui.toLowerCase(),
          tags: Object.fromEntries(d.tagsMap),
          variables: Object.fromEntries(d.variablesMap),
          queue: [],
        });
        return empty();
      }),
      get: this.handle('Get', (request) => {
        const device = this.device(request.devEui);
        const answer = new pb.GetDeviceResponse();
        answer.setDevice(toPbDevice(device));
        return answer;
      }),
      update: this.handle('Update', (request) => {
        const d = request.device as pb.Device.AsObject | undefined;
        if (!d) throw new GrpcFailure(grpc.status.INVALID_ARGUMENT, 'device is missing');
        const device = this.device(d.devEui);
        if (!d.name) throw new GrpcFailure(grpc.status.INVALID_ARGUMENT, 'Validation error: name is not set');
        // Every field is replaced: what the request leaves out is cleared.
        Object.assign(device, {
          name: d.name,
          description: d.description,
          deviceProfileId: d.deviceProfileId,
          isDisabled: d.isDisabled,
          joinEui: d.joinEui.toLowerCase(),
          tags: Object.fromEntries(d.tagsMap),
          variables: Object.fromEntries(d.variablesMap),
        });
        return empty();
      }),
      delete: this.handle('Delete', (request) => {
        const device = this.device(request.devEui);
        this.devices.delete(device.devEui);
        return empty();
      }),
      list: this.handle('List', (request) => {
        const { limit, offset, applicationId } = request as unknown as pb.ListDevicesRequest.AsObject;
        if (!applicationId) throw new GrpcFailure(grpc.status.INVALID_ARGUMENT, 'invalid length: expected length 32 for simple format, found 0');
        const all = [...this.devices.values()].filter((d) => d.applicationId === applicationId).sort((a, b) => a.devEui.localeCompare(b.devEui));
        const answer = new pb.ListDevicesResponse();
        answer.setTotalCount(all.length);
        // limit 0 answers only the count.
        answer.setResultList(
          all.slice(offset, offset + limit).map((d) => {
            const item = new pb.DeviceListItem();
            item.setDevEui(d.devEui);
            item.setName(d.name);
            item.setDescription(d.description);
            item.setDeviceProfileId(d.deviceProfileId);
            for (const [k, v] of Object.entries(d.tags)) item.getTagsMap().set(k, v);
            return item;
          }),
        );
        return answer;
      }),
      createKeys: this.handle('CreateKeys', (request) => {
        const keys = request.deviceKeys as pb.DeviceKeys.AsObject | undefined;
        if (!keys) throw new GrpcFailure(grpc.status.INVALID_ARGUMENT, 'device_keys is missing');
        const problem = hexProblem(keys.nwkKey, 16) ?? (keys.appKey ? hexProblem(keys.appKey, 16) : null);
        if (problem) throw new GrpcFailure(grpc.status.INTERNAL, problem);
        const device = this.devices.get(keys.devEui.toLowerCase());
        if (!device) throw new GrpcFailure(grpc.status.INTERNAL, 'insert or update on table "device_keys" violates foreign key constraint "device_keys_dev_eui_fkey"');
        if (device.keys) throw new GrpcFailure(grpc.status.INTERNAL, 'duplicate key value violates unique constraint "device_keys_pkey"');
        // An empty key is stored as sixteen zero bytes, silently.
        device.keys = { nwkKey: keys.nwkKey.toLowerCase(), appKey: (keys.appKey || '0'.repeat(32)).toLowerCase() };
        return empty();
      }),
      updateKeys: this.handle('UpdateKeys', (request) => {
        const keys = request.deviceKeys as pb.DeviceKeys.AsObject;
        const device = this.device(keys.devEui);
        if (!device.keys) throw this.missing(device.devEui);
        device.keys = { nwkKey: keys.nwkKey.toLowerCase(), appKey: (keys.appKey || '0'.repeat(32)).toLowerCase() };
        return empty();
      }),
      activate: this.handle('Activate', (request) => {
        const a = request.deviceActivation as pb.DeviceActivation.AsObject | undefined;
        if (!a) throw new GrpcFailure(grpc.status.INVALID_ARGUMENT, 'device_activation is missing');
        const device = this.device(a.devEui);
        const problem = hexProblem(a.devAddr, 4) ?? hexProblem(a.appSKey, 16) ?? hexProblem(a.nwkSEncKey, 16);
        if (problem) throw new GrpcFailure(grpc.status.INTERNAL, problem);
        device.activation = { devAddr: a.devAddr, appSKey: a.appSKey, nwkSEncKey: a.nwkSEncKey, sNwkSIntKey: a.sNwkSIntKey, fNwkSIntKey: a.fNwkSIntKey };
        return empty();
      }),
      enqueue: this.handle('Enqueue', async (request) => {
        const item = request.queueItem as pb.DeviceQueueItem.AsObject | undefined;
        if (!item) throw new GrpcFailure(grpc.status.INVALID_ARGUMENT, 'queue_item is missing');
        const device = this.device(item.devEui);
        if (item.fPort < 1 || item.fPort > 255) throw new GrpcFailure(grpc.status.INVALID_ARGUMENT, 'Validation error: FPort must be between 1 - 255');
        // ChirpStack makes its own id; one given in the request is not kept.
        const id = randomUUID();
        device.queue.push({ id, fPort: item.fPort, confirmed: item.confirmed, data: Buffer.from(item.data as string, 'base64').toString('hex') });
        await this.beforeEnqueueAnswer?.(id, device.devEui);
        const answer = new pb.EnqueueDeviceQueueItemResponse();
        answer.setId(id);
        return answer;
      }),
    };
  }

  private application(id: unknown): string {
    if (!this.applications.has(String(id))) throw this.missing(String(id));
    return String(id);
  }

  private applicationService() {
    const integrationOf = (request: Record<string, unknown>) => {
      const i = request.integration as appPb.HttpIntegration.AsObject | undefined;
      if (!i) throw new GrpcFailure(grpc.status.INVALID_ARGUMENT, 'integration is missing');
      return { applicationId: this.application(i.applicationId), value: { headers: Object.fromEntries(i.headersMap), encoding: i.encoding, eventEndpointUrl: i.eventEndpointUrl } };
    };
    return {
      get: this.handle('ApplicationGet', (request) => {
        const answer = new appPb.GetApplicationResponse();
        const application = new appPb.Application();
        application.setId(this.application(request.id));
        answer.setApplication(application);
        return answer;
      }),
      createHttpIntegration: this.handle('CreateHttpIntegration', (request) => {
        const { applicationId, value } = integrationOf(request);
        if (this.httpIntegrations.has(applicationId)) {
          throw new GrpcFailure(grpc.status.INTERNAL, 'duplicate key value violates unique constraint "application_integration_pkey"');
        }
        this.httpIntegrations.set(applicationId, value);
        return new Empty();
      }),
      getHttpIntegration: this.handle('GetHttpIntegration', (request) => {
        const applicationId = this.application(request.applicationId);
        const stored = this.httpIntegrations.get(applicationId);
        if (!stored) throw new GrpcFailure(grpc.status.NOT_FOUND, `Object does not exist (id: ${applicationId})`);
        const integration = new appPb.HttpIntegration();
        integration.setApplicationId(applicationId);
        integration.setEncoding(stored.encoding as appPb.EncodingMap[keyof appPb.EncodingMap]);
        integration.setEventEndpointUrl(stored.eventEndpointUrl);
        for (const [k, v] of Object.entries(stored.headers)) integration.getHeadersMap().set(k, v);
        const answer = new appPb.GetHttpIntegrationResponse();
        answer.setIntegration(integration);
        return answer;
      }),
      updateHttpIntegration: this.handle('UpdateHttpIntegration', (request) => {
        const { applicationId, value } = integrationOf(request);
        if (!this.httpIntegrations.has(applicationId)) throw new GrpcFailure(grpc.status.NOT_FOUND, `Object does not exist (id: ${applicationId})`);
        this.httpIntegrations.set(applicationId, value);
        return new Empty();
      }),
      deleteHttpIntegration: this.handle('DeleteHttpIntegration', (request) => {
        const applicationId = this.application(request.applicationId);
        if (!this.httpIntegrations.delete(applicationId)) throw new GrpcFailure(grpc.status.NOT_FOUND, `Object does not exist (id: ${applicationId})`);
        return new Empty();
      }),
    };
  }
}

function toPbDevice(device: FakeDevice): pb.Device {
  const d = new pb.Device();
  d.setDevEui(device.devEui);
  d.setName(device.name);
  d.setDescription(device.description);
  d.setApplicationId(device.applicationId);
  d.setDeviceProfileId(device.deviceProfileId);
  d.setIsDisabled(device.isDisabled);
  d.setJoinEui(device.joinEui);
  for (const [k, v] of Object.entries(device.tags)) d.getTagsMap().set(k, v);
  for (const [k, v] of Object.entries(device.variables)) d.getVariablesMap().set(k, v);
  return d;
}
