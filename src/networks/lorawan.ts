import { z } from 'zod';

/** `n` hex digits, kept upper-case as the networks and the normalized event write them. */
export function hexSchema(digits: number, what: string) {
  return z
    .string()
    .regex(new RegExp(`^[0-9a-fA-F]{${digits}}$`), `must be ${what}: ${digits} hex digits`)
    .transform((value) => value.toUpperCase());
}

export const euiSchema = hexSchema(16, 'an EUI-64');
export const aesKeySchema = hexSchema(32, 'a 128-bit AES key');
export const devAddrSchema = hexSchema(8, 'a DevAddr');

/** The keys of the LoRaWAN OTAA registration Helium and TTS share; `appEui` is the pre-1.1 name of `joinEui`. */
export const otaaFields = {
  devEui: euiSchema,
  joinEui: euiSchema.optional(),
  appEui: euiSchema.optional(),
  appKey: aesKeySchema,
};

/** Picks joinEui or its old name appEui (one of them, not two different values). */
export function joinEuiOf(input: { joinEui?: string; appEui?: string }, ctx: z.RefinementCtx): string {
  if (input.joinEui && input.appEui && input.joinEui !== input.appEui) {
    ctx.addIssue({ code: 'custom', path: ['appEui'], message: 'differs from joinEui: give one of them' });
  }
  const joinEui = input.joinEui ?? input.appEui;
  if (!joinEui) {
    ctx.addIssue({ code: 'custom', path: ['joinEui'], message: 'is required (or appEui): 16 hex digits' });
    return z.NEVER;
  }
  return joinEui;
}

/** The keys of a LoRaWAN 1.0.x ABP registration (TTS, ChirpStack). */
export const abpFields = {
  devAddr: devAddrSchema.optional(),
  nwkSKey: aesKeySchema.optional(),
  appSKey: aesKeySchema.optional(),
};

/**
 * ABP when any of its keys is given (then all three are required, and the OTAA fields are out of
 * place), else OTAA (then appKey is required); each problem is an issue on its field.
 */
export function activationOf(
  input: { devAddr?: string; nwkSKey?: string; appSKey?: string; appKey?: string; joinEui?: string; appEui?: string },
  ctx: z.RefinementCtx,
): 'abp' | 'otaa' {
  if (input.devAddr !== undefined || input.nwkSKey !== undefined || input.appSKey !== undefined) {
    for (const field of ['devAddr', 'nwkSKey', 'appSKey'] as const) {
      if (!input[field]) ctx.addIssue({ code: 'custom', path: [field], message: 'is required for ABP (devAddr, nwkSKey and appSKey)' });
    }
    for (const field of ['appKey', 'joinEui', 'appEui'] as const) {
      if (input[field]) ctx.addIssue({ code: 'custom', path: [field], message: 'is for OTAA; an ABP device has devAddr, nwkSKey and appSKey' });
    }
    return 'abp';
  }
  if (!input.appKey) ctx.addIssue({ code: 'custom', path: ['appKey'], message: 'is required for OTAA: 32 hex digits (or give devAddr, nwkSKey and appSKey for ABP)' });
  return 'otaa';
}
