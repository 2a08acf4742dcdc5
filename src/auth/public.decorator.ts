import { SetMetadata } from '@nestjs/common';

export const IS_PUBLIC = 'isPublic';

/** Routes without an API key: ingest (own token), health, metrics. Everything else needs one. */
export const Public = () => SetMetadata(IS_PUBLIC, true);
