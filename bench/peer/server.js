// One peer process: the provider on 127.0.0.1:PEER_PORT. The bench starts
// two, on two ports, and splits its connections between them.
import { makeProvider } from './provider.js';

const port = Number(process.env.PEER_PORT);
if (!Number.isInteger(port) || port <= 0) {
  throw new Error('PEER_PORT is not a port');
}
const { provider } = makeProvider();
provider.listen(port, '127.0.0.1');
