import * as yup from 'yup';

const E164 = /^\+[1-9]\d{6,14}$/;
const USERNAME = /^[A-Za-z0-9._+-]{1,64}$/;
const APP_ID = /^[A-Za-z0-9_-]{1,64}$/;
const KIB = 1024;

const atMostKib = (kib: number) => (value: unknown) => value === undefined || JSON.stringify(value).length <= kib * KIB;

const customData = yup.object().optional().test('size', '${path} must be at most 8 KiB of JSON', atMostKib(8));

/** groups, roles, permissions: released as the groups / roles / permissions claims. */
const names = yup.array(yup.string().trim().min(1).max(128).required()).max(100);

/** What one application keeps about the user: the external_account_id and custom_app_data claims. */
const appEntry = yup.object({
  external_account_id: yup.string().max(256),
  custom_app_data: yup.object().optional(),
}).noUnknown();

/** Per-application data, keyed by app_id: `{ "<app_id>": { external_account_id, custom_app_data } }`. */
const appData = yup.lazy((value: unknown) => yup.object(
  Object.fromEntries(Object.keys(value !== null && typeof value === 'object' ? value : {}).map((key) => [key, appEntry])),
).optional().default(undefined)
  .test('app-ids', '${path} keys must be application ids', (v) => v === undefined || Object.keys(v).every((key) => APP_ID.test(key)))
  .test('size', '${path} must be at most 16 KiB of JSON', atMostKib(16)));

const address = yup.object({
  street_address: yup.string().max(256),
  locality: yup.string().max(128),
  region: yup.string().max(128),
  postal_code: yup.string().max(32),
  country: yup.string().max(64),
}).noUnknown().optional().default(undefined);

/** Fields shared by create and update; every string is bounded. */
const profileFields = {
  email: yup.string().trim().lowercase().email().max(254),
  email_verified: yup.boolean(),
  phone_number: yup.string().matches(E164, '${path} must be in E.164 format, e.g. +15551234567'),
  phone_number_verified: yup.boolean(),
  username: yup.string().matches(USERNAME, '${path} may contain letters, digits and . _ + - (1 to 64)'),
  password: yup.string().min(8).max(256),
  given_name: yup.string().max(128),
  family_name: yup.string().max(128),
  middle_name: yup.string().max(128),
  picture: yup.string().url().max(2048),
  birthday: yup.string().matches(/^\d{4}-\d{2}-\d{2}$/, '${path} must be YYYY-MM-DD'),
  language: yup.string().max(35),
  address,
  custom_data: customData,
  external_user_id: yup.string().max(256),
  groups: names,
  roles: names,
  permissions: names,
  app_data: appData,
};

export const createUserSchema = yup.object(profileFields).noUnknown()
  .test('identifier', 'one of email, phone_number or username is required',
    (value) => Boolean(value.email || value.phone_number || value.username));

export const updateUserSchema = yup.object(profileFields).noUnknown();

export type UserInput = yup.InferType<typeof updateUserSchema>;
