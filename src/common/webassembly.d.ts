/** What this project uses of WebAssembly's JavaScript API: Node has it, but its types come with the DOM's, not in our `lib`. */
declare namespace WebAssembly {
  class Module {
    constructor(bytes: Uint8Array);
  }
}
