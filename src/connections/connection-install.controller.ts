import { Controller, Delete, HttpCode, Param, Post } from '@nestjs/common';
import { ApiDoc } from '../docs/api-doc.decorator';
import { ConnectionInstallService } from './connection-install.service';

/** Part of the connections API (SPEC §2): makes the network call the bridge, or stops it. */
@Controller('api/connections')
export class ConnectionInstallController {
  constructor(private readonly installs: ConnectionInstallService) {}

  @Post(':id/install')
  @ApiDoc({
    summary: 'Make the network call the bridge (Helium integration and flows, Sigfox callbacks); replaces what an earlier install made and the ingest token',
    example: {
      network: 'helium',
      installed: [
        { kind: 'integration', id: '8bcf235a-…', url: 'https://bridge.example.com/ingest/helium/helium-main', detail: 'lpwan-bridge helium-main' },
        { kind: 'flow', id: '1f99c35c-…', detail: 'from label d7c095cb-…' },
      ],
      ingestToken: 'ing_…',
    },
  })
  @HttpCode(200)
  install(@Param('id') id: string) {
    return this.installs.install(id);
  }

  @Delete(':id/install')
  @ApiDoc({
    summary: 'Remove what install made in the network (the ingest token is kept)',
    example: { network: 'sigfox', removed: [{ kind: 'callback', id: '57285afd061b7015ef7d39b4', url: 'https://bridge.example.com/ingest/sigfox/sigfox-main/data', detail: 'DATA BIDIR' }] },
  })
  uninstall(@Param('id') id: string) {
    return this.installs.uninstall(id);
  }
}
