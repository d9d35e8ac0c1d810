import type { KMSClient, KMSClientConfig } from '@aws-sdk/client-kms';
import { AuthenticationError, SealcamError } from '../errors.js';
import { checkKmsKeyArn, RsaRecipient, VaultRsaIdentity } from './rsa-oaep.js';

/**
 * RSA keys held by AWS KMS (asymmetric keys with key usage ENCRYPT_DECRYPT). As for Key Vault, the
 * camera wraps locally with the public key in its recipient text (RSAES_OAEP_SHA_256 is
 * RSA-OAEP with SHA-256 and MGF1-SHA-256); the receiver's identity is the recipient text plus AWS
 * credentials, and calls KMS Decrypt. kmsRecipient() is the admin's side (GetPublicKey). The SDK
 * is imported on first use.
 */

export interface KmsOptions {
  /** Passed to KMSClient (region, credentials, endpoint). The region defaults to the key ARN's. */
  clientConfig?: KMSClientConfig;
}

const ALGORITHM = 'RSAES_OAEP_SHA_256';
/** KMS key ids, key ARNs, alias names and alias ARNs: what GetPublicKey's KeyId takes. */
const KEY_REFERENCE = /^[A-Za-z0-9:/_-]{1,2048}$/;

interface KmsError {
  name?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number };
}

async function kmsClient(options: KmsOptions, keyArn?: string): Promise<KMSClient> {
  const { KMSClient } = await import('@aws-sdk/client-kms');
  const region = options.clientConfig?.region ?? keyArn?.split(':')[3];
  return new KMSClient({ ...options.clientConfig, ...(region ? { region } : {}) });
}

/** One line for a failed KMS call on `key`, from the error name and status only. */
function failure(err: unknown, key: string, operation: string): SealcamError {
  if (err instanceof SealcamError) return err;
  const e = (err ?? {}) as KmsError;
  const where = `AWS KMS key ${key}`;
  const status = e.$metadata?.httpStatusCode;
  switch (e.name) {
    case 'NotFoundException':
      return new SealcamError('ENOKEY', `${where} does not exist (check the key ARN and region)`);
    case 'DisabledException':
    case 'KMSInvalidStateException':
      return new SealcamError('EKEYDISABLED', `${where} is disabled or pending deletion`);
    case 'AccessDeniedException':
    case 'UnrecognizedClientException':
    case 'InvalidSignatureException':
      return new SealcamError('EKEYACCESS', `${where} refused access (${e.name}): check AWS credentials and the kms:${operation} permission in the key policy`);
    case 'CredentialsProviderError':
      return new SealcamError('EKEYACCESS', `no AWS credentials for ${where} (set AWS_PROFILE, AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or run with an instance role)`);
  }
  if (status === undefined) return new SealcamError('EKEYNET', `cannot reach ${where}: ${e.name ?? 'no answer'}`);
  return new SealcamError('EKEYVAULT', `${where} answered ${status}${e.name ? ` (${e.name})` : ''} to ${operation}`);
}

/** The recipient for a KMS RSA key (`keyId`: key id, key ARN or alias); the text names the key ARN KMS returns. */
export async function kmsRecipient(keyId: string, options: KmsOptions = {}): Promise<RsaRecipient> {
  if (!KEY_REFERENCE.test(keyId)) throw new SealcamError('EINPUT', `KMS key ${JSON.stringify(keyId.slice(0, 200))} is not a key id, key ARN or alias`);
  const client = await kmsClient(options, keyId.startsWith('arn:') ? keyId : undefined);
  const { GetPublicKeyCommand } = await import('@aws-sdk/client-kms');
  let answer;
  try {
    answer = await client.send(new GetPublicKeyCommand({ KeyId: keyId }));
  } catch (err) {
    throw failure(err, keyId, 'GetPublicKey');
  } finally {
    client.destroy();
  }
  const where = `AWS KMS key ${answer.KeyId ?? keyId}`;
  if (answer.KeyUsage !== 'ENCRYPT_DECRYPT' || !answer.EncryptionAlgorithms?.includes(ALGORITHM)) {
    throw new SealcamError('ERECIPIENT', `${where} is not an RSA encryption key offering ${ALGORITHM} (key usage ${answer.KeyUsage ?? 'unknown'})`);
  }
  if (!answer.PublicKey || !answer.KeyId) throw new SealcamError('ERECIPIENT', `${where}: GetPublicKey returned no public key`);
  return new RsaRecipient({ kind: 'aws-kms', keyArn: checkKmsKeyArn(answer.KeyId) }, answer.PublicKey);
}

/** The private half of a KMS recipient: unwraps with KMS Decrypt. */
export class KmsIdentity extends VaultRsaIdentity {
  private client?: Promise<KMSClient>;

  constructor(
    recipient: RsaRecipient,
    private readonly options: KmsOptions = {},
  ) {
    super(recipient, 'aws-kms');
  }

  get keyArn(): string {
    return this.keyRef;
  }

  protected async decryptInVault(body: Uint8Array): Promise<Uint8Array> {
    this.client ??= kmsClient(this.options, this.keyArn);
    const client = await this.client;
    const { DecryptCommand } = await import('@aws-sdk/client-kms');
    let answer;
    try {
      answer = await client.send(new DecryptCommand({ KeyId: this.keyArn, CiphertextBlob: body, EncryptionAlgorithm: ALGORITHM }));
    } catch (err) {
      const name = (err as KmsError).name;
      if (name === 'InvalidCiphertextException' || name === 'IncorrectKeyException') {
        throw new AuthenticationError(`${this.description} did not unwrap the stanza (wrong key, or the stanza was altered)`);
      }
      throw failure(err, this.keyArn, 'Decrypt');
    }
    if (!answer.Plaintext) throw new SealcamError('EKEYVAULT', `${this.description}: Decrypt returned no plaintext`);
    return answer.Plaintext;
  }
}
