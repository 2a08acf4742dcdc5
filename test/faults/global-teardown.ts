import { removeRunTempDir } from '../support/global-teardown';
import { PrivateServices, stopPrivateServices } from './private-services';

export default async function globalTeardown(): Promise<void> {
  // The database goes with the whole cluster.
  stopPrivateServices(JSON.parse(process.env.FAULT_SERVICES as string) as PrivateServices);
  removeRunTempDir();
}
