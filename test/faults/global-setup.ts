import baseSetup from '../support/global-setup';
import { postgresAdminUrl, startPrivateServices } from './private-services';

/** The fault suite's services are its own (see private-services.ts); its database is made in its Postgres. */
export default async function globalSetup(): Promise<void> {
  const services = await startPrivateServices();
  process.env.FAULT_SERVICES = JSON.stringify(services);
  process.env.TEST_POSTGRES_URL = postgresAdminUrl(services);
  process.env.TEST_REDIS_URL = `redis://127.0.0.1:${services.redis.port}`;
  process.env.TEST_MQTT_URL = `mqtt://127.0.0.1:${services.mosquitto.port}`;
  await baseSetup();
}
