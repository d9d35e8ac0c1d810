// The WebAssembly JS API subset sealcam uses. TypeScript declares it only in lib.dom, which
// would also bring browser globals into a Node program.
declare namespace WebAssembly {
  class Module {
    constructor(bytes: BufferSource);
  }
  class Instance {
    constructor(module: Module, imports?: Record<string, Record<string, unknown>>);
    readonly exports: Record<string, unknown>;
  }
  class Memory {
    readonly buffer: ArrayBuffer;
    grow(pages: number): number;
  }
}
type BufferSource = ArrayBufferView | ArrayBuffer;
declare namespace WebAssembly {
  function validate(bytes: BufferSource): boolean;
}
declare namespace WebAssembly {
  interface WebAssemblyInstantiatedSource {
    module: Module;
    instance: Instance;
  }
  /** Compiles while the bytes arrive (the browser build's loader; the response must be application/wasm). */
  function instantiateStreaming(source: Response | PromiseLike<Response>, imports?: Record<string, Record<string, unknown>>): Promise<WebAssemblyInstantiatedSource>;
}
