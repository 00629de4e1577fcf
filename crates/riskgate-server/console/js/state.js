// Shared console state: the signed-in user and navigation.
export const session = { me: null };

export function go(path) {
  location.hash = path.startsWith('#') ? path : `#${path}`;
}
