import { describeFile, loadEngine, openFile, type HeaderRow, type PickedFile } from '/assets/sealcam.js';
import { byId, el, formatBytes } from './dom.js';

/**
 * The "Open a file" page: the files the user picks are read into the page (File.arrayBuffer) and
 * opened there by sealcam/browser, the same WASM engine and openers as the CLI; no request
 * carries them. The public header shows as soon as the file parses, the image and its SHA-256
 * only once everything verified. Text from the file reaches the DOM as text.
 */

const engine = byId('engine');
const form = byId<HTMLFormElement>('pick');
const fileInput = byId<HTMLInputElement>('file');
const keyInput = byId<HTMLInputElement>('key');
const registryInput = byId<HTMLInputElement>('registry');
const openButton = byId<HTMLButtonElement>('open');
const error = byId('error');
const result = byId('result');
const image = byId<HTMLImageElement>('image');
let imageUrl: string | undefined;

loadEngine().then(
  (variant) => {
    engine.dataset.state = 'live';
    engine.textContent = `WASM engine ready (${variant === 'relaxed' ? 'relaxed SIMD' : 'SIMD 1.0'})`;
    openButton.disabled = false;
  },
  (err: Error) => {
    engine.dataset.state = 'signed-out';
    engine.textContent = 'the engine did not load';
    showError(err.message);
  },
);

async function picked(input: HTMLInputElement): Promise<PickedFile[]> {
  return Promise.all(Array.from(input.files ?? []).map(async (file) => ({ name: file.name, bytes: new Uint8Array(await file.arrayBuffer()) })));
}

function showError(message: string): void {
  error.textContent = message;
  error.hidden = false;
}

function renderHeader(name: string, rows: HeaderRow[]): void {
  byId('result-name').textContent = name;
  const body = byId('header').querySelector('tbody')!;
  body.replaceChildren(
    ...rows.map(([label, value]) => {
      const tr = el('tr');
      tr.append(el('th', undefined, label), el('td', undefined, value));
      return tr;
    }),
  );
}

function clearOpened(): void {
  if (imageUrl !== undefined) URL.revokeObjectURL(imageUrl);
  imageUrl = undefined;
  image.removeAttribute('src');
  for (const id of ['sha256', 'size', 'signature', 'image-note']) byId(id).textContent = '';
  delete byId('signature').dataset.state;
}

form.addEventListener('submit', (event) => {
  event.preventDefault();
  void open();
});

async function open(): Promise<void> {
  error.hidden = true;
  error.textContent = '';
  result.hidden = true;
  clearOpened();
  const [files, [key], [registryEntry]] = await Promise.all([picked(fileInput), picked(keyInput), picked(registryInput)]);
  try {
    if (key === undefined) throw new Error('pick the key or identity file');
    // The public header first: it shows even when the key does not open the file.
    const description = describeFile(files);
    renderHeader(description.name, description.rows);
    result.hidden = false;
    const opened = await openFile({ files, key, ...(registryEntry === undefined ? {} : { registryEntry }) });
    byId('sha256').textContent = opened.sha256;
    byId('size').textContent = `${formatBytes(opened.plaintext.length)} (${opened.plaintext.length} bytes)`;
    const signature = byId('signature');
    signature.textContent = opened.signature.text;
    signature.dataset.state = opened.signature.state;
    imageUrl = URL.createObjectURL(new Blob([opened.plaintext as Uint8Array<ArrayBuffer>], opened.contentType === undefined ? {} : { type: opened.contentType }));
    image.addEventListener('error', () => (byId('image-note').textContent = 'opened and verified, but not an image this browser shows'), { once: true });
    image.src = imageUrl;
  } catch (err) {
    showError((err as Error).message);
  } finally {
    key?.bytes.fill(0);
  }
}
