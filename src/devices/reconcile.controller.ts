import { Body, Controller, HttpCode, NotFoundException, Param, Post } from '@nestjs/common';
import { parseOrBadRequest } from '../common/validation';
import { connectionIdSchema } from '../connections/connection.schema';
import { ApiDoc } from '../docs/api-doc.decorator';
import { reconcileSchema } from './device.schema';
import { ReconcileService } from './reconcile.service';

/** Part of the connections API (SPEC §2), kept with the device registry it compares. */
@Controller('api/connections')
export class ReconcileController {
  constructor(private readonly reconcile: ReconcileService) {}

  @Post(':id/reconcile')
  @ApiDoc({
    summary: "Compare the network's devices with the registry; {\"apply\": true} imports and re-provisions",
    body: reconcileSchema,
    example: { onlyInNetwork: [], onlyInBridge: [], different: [] },
  })
  @HttpCode(200)
  run(@Param('id') id: string, @Body() body: unknown) {
    if (!connectionIdSchema.safeParse(id).success) throw new NotFoundException(`connection "${id}" not found`);
    return this.reconcile.reconcile(id, parseOrBadRequest(reconcileSchema, body ?? undefined).apply);
  }
}
