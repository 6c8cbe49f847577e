import { lexicographicSortSchema } from 'graphql';
import { builder } from './builder.js';
import './errors.js';
import '../modules/viewer/viewer.js';
import '../modules/tenancy/types.js';
import '../modules/tenancy/customers.js';
import '../modules/auth/tokens.js';
import '../modules/apikeys/apikeys.js';

export const schema = lexicographicSortSchema(builder.toSchema());
