import { SealcamError } from '../errors.js';

/**
 * One-line errors for Azure Key Vault calls, shared by the secrets-based key provider (azure.ts)
 * and the vault-held RSA identities (keyvault-keys.ts). Built from status and error codes, never
 * from request data, so no key material or token can reach a message.
 */

export interface AzureError {
  name?: string;
  code?: string;
  statusCode?: number;
  message?: string;
  details?: { error?: { innerError?: { code?: string } } };
}

export interface AzureFailureText {
  /** "Azure Key Vault https://<vault>": the service, for every message. */
  where: string;
  /** What to check when access is refused (401/403): the role or permissions needed. */
  access: string;
  /** Key Vault's inner error code for a disabled item (SecretDisabled, KeyDisabled) and the message for it. */
  disabledCode: string;
  disabled: string;
  /** The message for 404. */
  notFound: string;
}

const CREDENTIAL_ERRORS = ['CredentialUnavailableError', 'AuthenticationError', 'AggregateAuthenticationError'];

export function azureFailure(err: unknown, text: AzureFailureText): SealcamError {
  if (err instanceof SealcamError) return err;
  const e = (err ?? {}) as AzureError;
  const { where } = text;
  if (e.statusCode === 403 && e.details?.error?.innerError?.code === text.disabledCode) return new SealcamError('EKEYDISABLED', text.disabled);
  if (e.statusCode === 401 || e.statusCode === 403) return new SealcamError('EKEYACCESS', `${where} refused access (${text.access})`);
  if (e.statusCode === 404) return new SealcamError('ENOKEY', text.notFound);
  if (e.name && CREDENTIAL_ERRORS.includes(e.name)) {
    return new SealcamError(
      'EKEYACCESS',
      `no Azure credential for ${where} (sign in with az login, or run with a managed identity or AZURE_TENANT_ID/AZURE_CLIENT_ID/AZURE_CLIENT_SECRET)`,
    );
  }
  if (e.statusCode === undefined) {
    const why = e.code ?? firstLine(e.message) ?? 'unknown error';
    // Certificate failures look like network ones; say which, since the fix differs.
    const tls = /CERT|UNABLE_TO_VERIFY|SELF_SIGNED/.test(why) ? ' (its TLS certificate is not trusted)' : '';
    return new SealcamError('EKEYNET', `cannot reach ${where}: ${why}${tls}`);
  }
  const detail = [e.code, firstLine(e.message)].filter(Boolean).join(': ');
  return new SealcamError('EKEYVAULT', `${where} answered ${e.statusCode}${detail ? ` (${detail})` : ''}`);
}

export function firstLine(text: string | undefined): string | undefined {
  const line = text?.split('\n', 1)[0]?.trim();
  return line ? line.slice(0, 200) : undefined;
}
