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
