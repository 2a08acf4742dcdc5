// Tests read JSON answers freely and assert on their shape.
interface Response {
  json(): Promise<any>;
}
