/** The registration the Nitro plugin made, for the provider's own server route. */
import type { Registration } from '../../register';

let current: Registration | null = null;
export const setRegistration = (r: Registration) => void (current = r);
export const getRegistration = () => current;
