import * as yup from 'yup';

const E164 = /^\+[1-9]\d{6,14}$/;
const USERNAME = /^[A-Za-z0-9._+-]{1,64}$/;
const MAX_CUSTOM_DATA_BYTES = 8 * 1024;

const customData = yup.object().optional().test('size', '${path} must be at most 8 KiB of JSON',
  (value) => value === undefined || JSON.stringify(value).length <= MAX_CUSTOM_DATA_BYTES);

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
};

export const createUserSchema = yup.object(profileFields).noUnknown()
  .test('identifier', 'one of email, phone_number or username is required',
    (value) => Boolean(value.email || value.phone_number || value.username));

export const updateUserSchema = yup.object(profileFields).noUnknown();

export type UserInput = yup.InferType<typeof updateUserSchema>;
